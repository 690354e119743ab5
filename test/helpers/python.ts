import { existsSync } from 'node:fs';
import { probePython } from '../../core/python.js';

/**
 * The interpreter Python tests run functions with: the system's
 * /usr/bin/python3 when there is one (open to every user, as the process
 * backend's per-instance uids need), else `python3` on PATH.
 */
export const TEST_PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** Whether {@link TEST_PYTHON} is a Python 3.11+. */
export async function pythonAvailable(): Promise<boolean> {
  return (await probePython(TEST_PYTHON)) !== undefined;
}
