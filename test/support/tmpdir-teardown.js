/** Removes the run's temporary directory (see tmpdir-setup.js). */
const { rmSync } = require('node:fs');

module.exports = async function teardown() {
  const dir = process.env.WBT_JEST_TMPDIR;
  if (dir && /\/wbt-jest-[^/]+$/.test(dir)) rmSync(dir, { recursive: true, force: true });
};
