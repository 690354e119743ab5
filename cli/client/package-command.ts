import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CliError, ExitCode } from './cli-error.js';
import type { CommandContext } from './command-context.js';
import { zipDirectory } from './deploy-source.js';
import { formatBytes } from './output.js';

/**
 * `brisk package <dir> [--out F] [--python P]`: a Python function's folder
 * with its `requirements.txt` vendored (`pip install --target`) into one zip,
 * ready for `brisk deploy`. Executors have no network and Brisk installs
 * nothing at deploy time: the package carries its libraries, as a Lambda zip
 * does. Runs on the user's machine, with the user's pip and index (pip's own
 * settings apply: PIP_INDEX_URL, PIP_FIND_LINKS, PIP_NO_INDEX, pip.conf …).
 * Wheels with compiled code must match the executors' platform (Linux x86_64,
 * the executor's Python): pass pip `--platform`/`--only-binary` through
 * pip.conf or PIP_* variables when building elsewhere.
 */
export async function packageCommand(ctx: CommandContext): Promise<number> {
  const { args, out } = ctx;
  const dir = path.resolve(args.positional(0, 'the folder of a Python function'));
  args.atMost(1);
  const target = path.resolve(args.string('out') ?? `${path.basename(dir)}.zip`);
  const python = args.string('python') ?? 'python3';
  const isDir = await stat(dir).then((s) => s.isDirectory(), () => false);
  if (!isDir) throw new CliError('NO_SUCH_PATH', `${dir} is not a folder`, { exitCode: ExitCode.USAGE, hint: 'give the folder that holds your .py files and requirements.txt' });

  const staging = await mkdtemp(path.join(os.tmpdir(), 'brisk-package-'));
  try {
    // A copy: pip writes into the package, never into the user's own folder. The output zip, if inside, stays out.
    await cp(dir, staging, { recursive: true, filter: (src) => path.resolve(src) !== target && !/(^|\/)(\.git|__pycache__)$/.test(src) });
    const requirements = path.join(staging, 'requirements.txt');
    const hasRequirements = await stat(requirements).then((s) => s.isFile(), () => false);
    if (hasRequirements) {
      out.progress(`vendoring requirements.txt with ${python} -m pip install --target …`);
      await pip(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-compile', '--quiet', '--target', staging, '-r', requirements]);
    } else {
      out.progress('no requirements.txt: packaging the folder as it is');
    }
    const zip = await zipDirectory(staging);
    await writeFile(target, zip.archive);
    out.line(`packaged: ${path.relative(process.cwd(), target) || target} (${zip.files ?? 0} files, ${formatBytes(zip.archive.byteLength)})`);
    out.progress(`deploy it with: brisk deploy ${path.relative(process.cwd(), target) || target} --runtime python --handler <module>.<function> --name <name>`);
    out.data({ path: target, files: zip.files, bytes: zip.archive.byteLength, vendored: hasRequirements });
    return ExitCode.OK;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

function pip(python: string, argv: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(python, argv, { maxBuffer: 16 * 1024 * 1024, timeout: 600_000 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const tail = stderr.trim().split('\n').slice(-15).join('\n');
      reject(new CliError('PACKAGE_FAILED', `pip could not vendor requirements.txt:\n${tail || err.message}`, { exitCode: ExitCode.USAGE, hint: 'fix requirements.txt (or pip\'s index settings) and run `brisk package` again' }));
    });
  });
}
