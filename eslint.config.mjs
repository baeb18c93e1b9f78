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
        { allowForKnownSafeCalls: [{ from: "package", package: "node:test", name: ["test", "describe", "it", "suite"] }] },
      ],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
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
