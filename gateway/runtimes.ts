import { BriskError, ValidationError } from '../core/errors.js';
import { probePython } from '../core/python.js';
import { FUNCTION_RUNTIMES, type FunctionRuntime } from '../core/types.js';

/** One runtime as `GET /v1/runtimes` lists it. */
export interface RuntimeInfo {
  name: FunctionRuntime;
  /** The language's version (`20.11.1`, `3.11.7`); absent for `image`. */
  version?: string;
  /** Whether this namespace may deploy on it now. */
  available: boolean;
  /** Why not, when it is not. */
  reason?: string;
  default?: true;
}

export interface RuntimeCatalogOptions {
  /** BRISK_PYTHON */
  python: string;
  /** BRISK_ALLOW_IMAGES: namespaces that may deploy images; `*` for all. */
  allowImages: readonly string[];
}

/**
 * The runtimes this installation offers, as the gateway can tell: Node.js
 * always, Python when its interpreter runs here (the gateway compiles Python
 * at deploy; executors run the same BRISK_PYTHON or the Python image), images
 * in the namespaces BRISK_ALLOW_IMAGES lists.
 */
export class RuntimeCatalog {
  constructor(private readonly opts: RuntimeCatalogOptions) {}

  imagesAllowed(namespace: string): boolean {
    return this.opts.allowImages.includes('*') || this.opts.allowImages.includes(namespace);
  }

  async list(namespace: string): Promise<RuntimeInfo[]> {
    const python = await probePython(this.opts.python);
    const images = this.imagesAllowed(namespace);
    return [
      { name: 'nodejs', version: process.versions.node, available: true, default: true },
      python
        ? { name: 'python', version: python.version, available: true }
        : { name: 'python', available: false, reason: `no Python 3.11+ at '${this.opts.python}' (BRISK_PYTHON)` },
      images
        ? { name: 'image', available: true }
        : { name: 'image', available: false, reason: 'images are not enabled for this namespace (BRISK_ALLOW_IMAGES)' },
    ];
  }

  /**
   * The runtime a deploy asks for, checked: known, offered here, allowed in
   * the namespace, with an image name exactly when it is `image`.
   *
   * @throws ValidationError `INVALID_RUNTIME`; BriskError 403 `IMAGES_NOT_ALLOWED`.
   */
  async check(namespace: string, runtime: string | undefined, image: string | undefined): Promise<{ runtime: FunctionRuntime; image?: string }> {
    const name = runtime ?? 'nodejs';
    if (!(FUNCTION_RUNTIMES as readonly string[]).includes(name)) {
      throw new ValidationError('INVALID_RUNTIME', `runtime '${name}' is not one of ${FUNCTION_RUNTIMES.join(', ')}`, { runtime: name, runtimes: [...FUNCTION_RUNTIMES] });
    }
    const rt = name as FunctionRuntime;
    if (rt !== 'image' && image !== undefined) {
      throw new ValidationError('INVALID_RUNTIME', `'image' is only for runtime 'image' (this deploy's runtime is '${rt}')`, { runtime: rt });
    }
    if (rt === 'python' && (await probePython(this.opts.python)) === undefined) {
      throw new ValidationError('INVALID_RUNTIME', `runtime 'python' is not offered by this installation: no Python 3.11+ at '${this.opts.python}' (BRISK_PYTHON)`, { runtime: rt });
    }
    if (rt === 'image') {
      if (!this.imagesAllowed(namespace)) {
        throw new BriskError('IMAGES_NOT_ALLOWED', `namespace '${namespace}' may not deploy container images; the operator enables them with BRISK_ALLOW_IMAGES`, { status: 403 });
      }
      if (image === undefined || !IMAGE_REF.test(image)) {
        throw new ValidationError('INVALID_RUNTIME', "runtime 'image' needs 'image': an image reference such as 'my-fn:1.0' or 'registry.example.com/team/fn@sha256:…'", { runtime: rt });
      }
      return { runtime: rt, image };
    }
    return { runtime: rt };
  }
}

/** A Docker image reference: [registry/]path[:tag][@digest], lower-case path components. */
const IMAGE_REF = /^(?:[a-zA-Z0-9.-]+(?::\d+)?\/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;
