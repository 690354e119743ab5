/**
 * Text processing on a `storage` trigger: when a text object is created in a
 * bucket, count its lines, words and characters and the most frequent words,
 * and write the report to the `reports` bucket as `<key>.json`; when the
 * object is deleted, delete its report. The output goes to another bucket so
 * that writing it does not trigger the function again.
 */
interface StorageEvent {
  type: 'storage';
  event: 'created' | 'deleted';
  bucket: string;
  key: string;
  size: number;
}
interface ObjectsApi {
  get(bucket: string, key: string): Promise<Buffer | undefined>;
  put(bucket: string, key: string, data: string, opts?: { contentType?: string }): Promise<void>;
  delete(bucket: string, key: string): Promise<boolean>;
}

const REPORTS = 'reports';

export const handler = async (event: StorageEvent, context: { objects: ObjectsApi }) => {
  const reportKey = `${event.bucket}/${event.key}.json`;
  if (event.event === 'deleted') {
    return { report: reportKey, deleted: await context.objects.delete(REPORTS, reportKey) };
  }
  const data = await context.objects.get(event.bucket, event.key);
  if (data === undefined) return { skipped: `${event.bucket}/${event.key} is gone already` };
  const text = data.toString('utf8');
  const words = text.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? [];
  const freq = new Map<string, number>();
  for (const w of words) freq.set(w, (freq.get(w) ?? 0) + 1);
  const report = {
    source: { bucket: event.bucket, key: event.key, size: event.size },
    lines: text === '' ? 0 : text.split(/\r?\n/).length,
    words: words.length,
    characters: [...text].length,
    top: [...freq.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 5).map(([word, count]) => ({ word, count })),
  };
  await context.objects.put(REPORTS, reportKey, JSON.stringify(report), { contentType: 'application/json' });
  return { report: reportKey, words: report.words };
};
