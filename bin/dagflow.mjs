#!/usr/bin/env node
// `npx dagflow ...`: the command line (cli/dagflow.ts). The package ships its TypeScript sources,
// so the command loads them through tsx's loader instead of a build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/dagflow.ts');
process.exitCode = await main(process.argv.slice(2));
