import { PassThrough, Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import { ACTIVATION_END_MARKER, ACTIVATION_START_MARKER } from '../runtime/protocol.js';

/**
 * Reading a runtime container's own stdout/stderr (the Docker log stream):
 * the last lines, to explain a container that would not start, and output
 * the runtime could not capture itself (child processes, native writes), cut
 * per activation between the start/end markers the runtime prints. Kept apart
 * from the backend, which only creates, drives and diagnoses containers.
 */

/** One activation's output as cut from the container's stdout/stderr. */
export interface ActivationLogSegment {
  /** Text after the start marker on its line (the activation id if the runtime prints it), '' if none. */
  tag: string;
  stdout: string[];
  stderr: string[];
}

/**
 * Output of `container` cut per activation. `sinceMs`: epoch ms; only lines
 * logged from then on.
 */
export async function readActivationLogs(docker: Dockerode, container: Dockerode.Container, sinceMs = 0): Promise<ActivationLogSegment[]> {
  const raw: unknown = await container.logs({
    stdout: true,
    stderr: true,
    follow: false,
    timestamps: true,
    // Docker takes whole seconds here; the exact cut is done on the timestamps below.
    since: Math.floor(sinceMs / 1000),
  });
  const { stdout, stderr } = await demux(docker, Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw)));
  const out = cutActivations(stripTimestamps(stdout, sinceMs));
  const err = cutActivations(stripTimestamps(stderr, sinceMs));
  return mergeSegments(out, err);
}

/** The last `lines` lines of `container`'s output (stdout then stderr), '' when there is none or it cannot be read. */
export async function readLogTail(docker: Dockerode, container: Dockerode.Container, lines: number): Promise<string> {
  try {
    const raw: unknown = await container.logs({ stdout: true, stderr: true, follow: false, tail: lines });
    const { stdout, stderr } = await demux(docker, Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw)));
    return `${stdout}${stderr}`.trim();
  } catch {
    return '';
  }
}

interface Demuxer {
  demuxStream(stream: NodeJS.ReadableStream, stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream): void;
}

/** Split Docker's multiplexed (non-TTY) log stream into stdout and stderr text. */
async function demux(docker: Dockerode, raw: Buffer): Promise<{ stdout: string; stderr: string }> {
  const modem = docker.modem as Demuxer; // @types/dockerode types modem as any
  const out = new PassThrough();
  const err = new PassThrough();
  const outChunks: Buffer[] = [];
  const errChunks: Buffer[] = [];
  out.on('data', (c: Buffer) => outChunks.push(c));
  err.on('data', (c: Buffer) => errChunks.push(c));
  const source = Readable.from([raw]);
  modem.demuxStream(source, out, err);
  await new Promise<void>((resolve, reject) => {
    source.on('end', resolve);
    source.on('error', reject);
  });
  return { stdout: Buffer.concat(outChunks).toString('utf8'), stderr: Buffer.concat(errChunks).toString('utf8') };
}

/** Drop Docker's RFC 3339 timestamp prefix, keeping only lines logged at or after `sinceMs`. */
function stripTimestamps(text: string, sinceMs: number): string[] {
  const lines: string[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const space = line.indexOf(' ');
    const at = Date.parse(line.slice(0, space));
    if (Number.isNaN(at)) {
      lines.push(line);
      continue;
    }
    if (at >= sinceMs) lines.push(line.slice(space + 1));
  }
  return lines;
}

/** Lines between a start-marker line and the next end-marker line, per activation. */
export function cutActivations(lines: string[]): { tag: string; lines: string[] }[] {
  const segments: { tag: string; lines: string[] }[] = [];
  let current: { tag: string; lines: string[] } | undefined;
  for (const line of lines) {
    const start = line.indexOf(ACTIVATION_START_MARKER);
    if (start !== -1) {
      current = { tag: line.slice(start + ACTIVATION_START_MARKER.length).trim(), lines: [] };
      segments.push(current);
      continue;
    }
    if (line.includes(ACTIVATION_END_MARKER)) {
      current = undefined;
      continue;
    }
    current?.lines.push(line);
  }
  return segments;
}

/** Pair stdout and stderr segments by tag when tagged, else by position. */
function mergeSegments(out: { tag: string; lines: string[] }[], err: { tag: string; lines: string[] }[]): ActivationLogSegment[] {
  const result: ActivationLogSegment[] = out.map((s) => ({ tag: s.tag, stdout: s.lines, stderr: [] }));
  err.forEach((s, i) => {
    const match = s.tag !== '' ? result.find((r) => r.tag === s.tag) : result[i];
    if (match !== undefined) match.stderr = s.lines;
    else result.push({ tag: s.tag, stdout: [], stderr: s.lines });
  });
  return result;
}
