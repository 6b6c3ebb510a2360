import type { EnvironmentFile } from '../load';
import { readEnvironmentFiles } from '../files';

/** Every environment the app synthesizes, one stack each: the files of this folder, without `.ts`. Add a file and list it here. */
export const ENVIRONMENT_FILES: readonly string[] = ['staging', 'production'];

/** The files above, checked for shape (config/files.ts); main.ts loads them through config/files.ts too. */
export const environments: readonly EnvironmentFile[] = readEnvironmentFiles(__dirname, ENVIRONMENT_FILES).map((s) => s.file);
