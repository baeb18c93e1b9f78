// ESLint: typescript-eslint's recommended type-aware rules over the project's TypeScript, and a few
// rules of the house (README, "Development"). Formatting is Prettier's job; the layers' import
// rules are dependency-cruiser's (.dependency-cruiser.cjs).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", ".venv/", ".cache/", "out/", "**/*.js", "**/*.mjs", "**/*.cjs"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // node:test's test() and describe() return promises that the runner awaits.
      "@typescript-eslint/no-floating-promises": [
        "error",
        {
          allowForKnownSafeCalls: [
            { from: "package", package: "node:test", name: ["test", "describe", "it", "suite"] },
          ],
        },
      ],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      // The notebooks' kernel compiles src/ with tslab's TypeScript 5.0, which needs assertions that
      // TypeScript 5.9 (this linter's) infers away, such as \`shape as number[]\` after \`every(d => d !== null)\`.
      "@typescript-eslint/no-unnecessary-type-assertion": "off",
      // A literal beside \`string\` documents the value users pass ("imagenet"), and editors offer it.
      "@typescript-eslint/no-redundant-type-constituents": "off",
    },
  },
  {
    // Tests read JSON that child processes and Python print, and give callbacks async methods to
    // match TF.js's interface: the rules about \`any\` and \`await\` would only add casts there.
    files: ["test/**/*.ts", "bench/**/*.ts", "scripts/**/*.ts"],
    rules: {
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/require-await": "off",
      // Tests load some modules at run time on purpose (a child's view, a mock target), and word
      // assertion messages with whatever they hold.
      "@typescript-eslint/no-require-imports": "off",
      "@typescript-eslint/restrict-template-expressions": "off",
      "@typescript-eslint/no-base-to-string": "off",
    },
  },
  {
    // The coordinating code stays small: a function over 80 lines is split (the application
    // builders, which mirror Keras's own long functions line for line, are the exception).
    files: ["src/**/*.ts"],
    ignores: ["src/keras/applications/inception_v3.ts", "src/keras/applications/xception.ts"],
    rules: { "max-lines-per-function": ["error", { max: 80, skipBlankLines: true, skipComments: true }] },
  },
);
