/**
 * `npm run smoke -- <env> [options]`: post-deploy smoke check of a WeeBeeTalk stack (see --help).
 * The logic lives in scripts/smoke/ (cli.ts, run.ts and one module per kind of check) so tests can run it in-process.
 */
import { runEntryPoint } from '../config/entry';
import { main } from './smoke/cli';

runEntryPoint('smoke', () =>
  main(process.argv.slice(2)).then((code) => {
    // Let stdout drain, but never hang on a straggling socket once the report is printed.
    setTimeout(() => process.exit(code), 1000).unref();
    return code;
  }),
);
