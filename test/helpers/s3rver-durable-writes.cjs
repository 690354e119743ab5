'use strict';
/**
 * s3rver 3.7.1 (the tests' and the bench's S3) answers a PUT once its hashing
 * Transform has finished, not once the file it pipes into has flushed: a GET
 * sent right after the 200 can read the object while its file is still empty.
 * CI saw it once (`expected '' to be 'export default 1'` right after a put).
 *
 * `makeS3rverWritesDurable()` replaces the filesystem store's two writers
 * (`putObject`, `putPart`; multipart completion goes through `putObject`) with
 * ones that await the whole pipeline, file included, before answering. It
 * changes nothing else in s3rver and is idempotent.
 */
const { createHash } = require('node:crypto');
const { createWriteStream } = require('node:fs');
const { mkdir, writeFile } = require('node:fs/promises');
const path = require('node:path');
const { Readable, Transform } = require('node:stream');
const { pipeline } = require('node:stream/promises');

const PATCHED = Symbol.for('brisk.s3rver.durableWrites');

/** Write `content` (a Buffer or a stream) to `file`; resolves to [size, md5 hex] once the file has it all. */
async function writeHashed(content, file) {
  const md5 = createHash('md5');
  let size = 0;
  const source = Buffer.isBuffer(content) ? Readable.from([content]) : content;
  const count = new Transform({
    transform(chunk, _encoding, callback) {
      md5.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  await pipeline(source, count, createWriteStream(file));
  return [size, md5.digest('hex')];
}

function makeS3rverWritesDurable() {
  const Store = require('s3rver/lib/stores/filesystem');
  if (Store.prototype[PATCHED]) return;

  Store.prototype.putObject = async function putObject(object) {
    const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
    await mkdir(path.dirname(objectPath), { recursive: true });
    const [size, md5] = await writeHashed(object.content, objectPath);
    await this.putMetadata(object.bucket, object.key, object.metadata, md5);
    return { size, md5 };
  };

  Store.prototype.putPart = async function putPart(bucket, uploadId, partNumber, content) {
    const partPath = path.join(this.getResourcePath(bucket, undefined, 'uploads'), uploadId, String(partNumber));
    await mkdir(path.dirname(partPath), { recursive: true });
    const [size, md5] = await writeHashed(content, partPath);
    await writeFile(`${partPath}.md5`, md5);
    return { size, md5 };
  };

  Store.prototype[PATCHED] = true;
}

module.exports = { makeS3rverWritesDurable };
