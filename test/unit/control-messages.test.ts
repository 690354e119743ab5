import { describe, expect, it } from 'vitest';
import { parseControl } from '../../core/schemas.js';
import { functionVersion } from '../helpers/records.js';

/** A logger that keeps what it is told to warn about. */
function recordingLogger(): { warn: (obj: unknown, msg?: string) => void; warnings: unknown[][] } {
  const warnings: unknown[][] = [];
  return { warnings, warn: (...args: unknown[]) => void warnings.push(args) };
}

const fn = functionVersion({ timeoutMs: 1000 });

describe('parseControl (the control topic has one schema)', () => {
  it('parses each known kind', () => {
    const log = recordingLogger();
    expect(parseControl({ kind: 'function-changed', namespace: 'ns', name: 'f' }, log)).toEqual({
      kind: 'function-changed',
      namespace: 'ns',
      name: 'f',
    });
    expect(parseControl({ kind: 'triggers-changed', namespace: 'ns' }, log)).toEqual({ kind: 'triggers-changed', namespace: 'ns' });
    expect(parseControl({ kind: 'prewarm', executorId: 'e1', fn }, log)).toEqual({ kind: 'prewarm', executorId: 'e1', fn });
    expect(log.warnings).toEqual([]);
  });

  it('ignores kinds it does not know, silently (a newer peer may send them)', () => {
    const log = recordingLogger();
    for (const raw of [{ kind: 'something-else', x: 1 }, { kind: 42 }, {}, null, 'prewarm', 7, []]) {
      expect(parseControl(raw, log)).toBeUndefined();
    }
    expect(log.warnings).toEqual([]);
  });

  it('logs and drops a known kind with a malformed body, instead of throwing', () => {
    const log = recordingLogger();
    expect(parseControl({ kind: 'function-changed', namespace: 'ns' }, log)).toBeUndefined();
    expect(parseControl({ kind: 'triggers-changed', namespace: 5 }, log)).toBeUndefined();
    expect(parseControl({ kind: 'prewarm', executorId: 'e1', fn: { ...fn, codeHash: 'not-a-hash' } }, log)).toBeUndefined();
    expect(log.warnings).toHaveLength(3);
    expect(log.warnings.map((w) => (w[0] as { kind: string }).kind)).toEqual(['function-changed', 'triggers-changed', 'prewarm']);
    expect(log.warnings[0]?.[1]).toBe('malformed control message dropped');
  });
});
