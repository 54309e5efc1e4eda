#!/usr/bin/env node
// `adbandit` for npx / npm link: loads TypeScript through tsx (a dependency), then runs the CLI.
import { register } from "tsx/esm/api";

register();
await import("./main.ts");
