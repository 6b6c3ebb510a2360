/**
 * One temporary directory per jest run: every worker inherits it as TMPDIR, so what tests and cdktf's
 * `Testing.app()` create with os.tmpdir() (an outdir per app) lives there and the teardown removes it whole.
 */
const { mkdtempSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

module.exports = async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'wbt-jest-'));
  process.env.WBT_JEST_TMPDIR = dir;
  process.env.TMPDIR = dir;
};
