/** drizzle-kit: every `schema*.ts` in src/store (core + other modules' tables) → migrations in drizzle/. */
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "postgresql",
  schema: "./src/store/schema*.ts",
  out: "./drizzle",
});
