/**
 * Help texts of the client commands. `CLIENT_USAGE` is appended to
 * `brisk help`; `COMMAND_USAGE[cmd]` is what `brisk <cmd> --help` prints.
 */

const COMMON = `
Every command takes:
  --json        machine-readable output on stdout (the gateway's JSON), nothing else
  --url URL     gateway for this call (else BRISK_URL, else the config file, else http://127.0.0.1:8080)
  --key KEY     API key for this call (else BRISK_KEY, else the config file)
  -n, --namespace NS   act in this namespace (admin key only; else BRISK_NAMESPACE, else the config file)
  -h, --help    this help`;

export const CLIENT_USAGE = `Client (talks to a running gateway over HTTP):
  login        store the gateway URL and API key:     brisk login --url URL [--key KEY]
  deploy       deploy a file or a folder:             brisk deploy <file|dir> [--name N]
  package      vendor a Python folder's requirements: brisk package <dir> [--out F]
  list         list functions;  get <name>, delete <name>
  invoke       call a function:                       brisk invoke <name[:alias]> [--data JSON | --file F] [--async]
  alias        set | ls | get | rm:                   brisk alias set <fn>:prod --version 7 [--weight 8=0.1]
  rollback     an alias back one step:                brisk rollback <fn>:prod
  promote      move an alias to another's version:    brisk promote <fn>:canary prod
  provisioned  set | ls | get | rm:                   brisk provisioned set <fn> <version|alias> <instances>
  logs         logs of recent activations:            brisk logs <name> [--follow]
  activations  recent activations; one by id:         brisk activations [get ID]
  triggers     list | get | put | delete
  publish      publish an event:                      brisk publish <topic> <json>
  dead-letters list | redrive <id>
  usage        usage over a period:                   brisk usage [--from T --to T]

\`brisk <command> --help\` for a command's options. --json on every command.
Exit codes: 0 ok, 1 the function failed, 2 usage/client error (4xx),
            3 platform error or unreachable (5xx, 429), 4 auth (401/403).
Config file: $BRISK_CONFIG or ~/.config/brisk/config.json; BRISK_URL, BRISK_KEY and
BRISK_NAMESPACE override it. A standalone server keeps its admin key in <data dir>/admin-key:
  brisk login --url http://127.0.0.1:8080 --key - < .brisk/admin-key
`;

export const COMMAND_USAGE: Record<string, string> = {
  login: `Usage: brisk login [--url URL] [--key KEY | --key -] [--namespace NS]

Stores the gateway URL, API key and namespace in the config file
($BRISK_CONFIG or ~/.config/brisk/config.json, mode 0600) after checking
them: GET /healthz, then GET /v1/functions with the key. \`--key -\` reads
the key from stdin (a standalone server writes its admin key to
<data dir>/admin-key); \`--key ''\` removes a stored key. Without --key, a
stored key is kept while the URL stays the same.`,

  deploy: `Usage: brisk deploy <file|dir|archive> [options]

  <file>       a .js/.ts/.mjs/.cjs source file, bundled by the gateway;
               a .py file: a Python function (module = the file's name)
  <dir>        a folder, zipped with its node_modules (not .git, __pycache__;
               symlinks left out); Python when it holds .py files or a
               requirements.txt and no package.json
  <archive>    a .zip or .tar.gz, sent as is (add --runtime python for Python)

Options:
  --name N              function name (default: the file or folder name)
  --handler F.EXPORT    entry file and export (default index.handler; app.py: app.handler)
  --runtime R           nodejs (default), python, or image (see --image)
  --image NAME:TAG      deploy an image function (no <file>; needs --name and a
                        namespace the operator allows images in)
  --memory MB           memory limit, e.g. 256 or 1gb
  --timeout T           time limit, e.g. 3000, 30s, 2m
  --env K=V             environment variable (repeatable)
  --secret K=V          secret, stored apart from the settings (repeatable)
  --retries N           async retries on failure
  --max-concurrency N   concurrent runs of this function (0 = no cap)
  --concurrency N       calls one instance takes at once, 1..100 (default 1)
  --public              serve /fn/NAME without an API key

Prints progress on stderr, then "ready: NAME vN (sha256 …, size)" on stdout,
or "unchanged: …" when the same code and settings were already deployed.`,

  package: `Usage: brisk package <dir> [--out FILE.zip] [--python PYTHON]

Copies a Python function's folder, vendors its requirements.txt into it with
\`PYTHON -m pip install --target\` (default python3; pip's own settings such as
PIP_INDEX_URL or PIP_FIND_LINKS apply) and zips the result (default
<dir>.zip), ready for \`brisk deploy FILE.zip --runtime python\`. Executors have
no network, and Brisk installs nothing at deploy time: vendoring is how a
Python function gets its libraries. Wheels with compiled code must be built for
the executors' platform (Linux, their Python version).`,

  list: `Usage: brisk list

Lists the deployed functions with their latest version.`,

  get: `Usage: brisk get <name>

Shows a function's latest version, its settings and its version numbers.`,

  delete: `Usage: brisk delete <name>

Deletes a function and all its versions.`,

  invoke: `Usage: brisk invoke <name>[:alias] [--data JSON | --file F] [--async] [--version N | --alias A]

  --data JSON     the event (default {})
  --file F        read the event from a file (- = stdin)
  --async         queue it and print the activation id
  --version N     run this version instead of the latest
  --alias A       run the version alias A routes this call to (same as <name>:A)

Prints the function's result. When the function throws or times out, its error
and stack go to stderr and the exit code is 1.`,

  logs: `Usage: brisk logs <name> [--follow] [--limit N]

Prints the logs of the function's recent activations, oldest first, with a
header line per activation. --follow keeps polling (every second) for new
activations until Ctrl-C. Under --json: { activations: [...] }, or one
activation per line with --follow.`,

  activations: `Usage: brisk activations [--function F] [--limit N]
       brisk activations get <id> [--wait]

  --function F    only this function's activations
  --limit N       how many (1..1000, default 20)
  --wait          wait until the activation has finished; the exit code then
                  follows its outcome (0 success, 1 function failed, 3 platform)`,

  triggers: `Usage: brisk triggers list [--type T] [--function F]
       brisk triggers get <name>
       brisk triggers put <name> --function F <source> [--spec JSON | --file F]
       brisk triggers delete <name>

A trigger runs a function when something happens. The source flags say what
(and imply --type):
  --topic T                               an event published with \`brisk publish T …\`
  --cron EXPR [--timezone TZ] [--data J]  a schedule (5 or 6 cron fields)
  --queue Q [--batch-size N] [--batch-window T] [--concurrency N] [--dead-letter queue|reject]
  --bucket B [--events created,deleted] [--prefix P]
  --method M --path /users/:id            an HTTP route under /http
--spec/--file give the whole trigger as JSON; the flags are set on top of it.`,

  publish: `Usage: brisk publish <topic> [<json> | --data JSON | --file F]

Publishes an event (wrapped in a CloudEvent by the gateway); every topic
trigger on the topic runs its function asynchronously. Prints the deliveries
and their activation ids.`,

  'dead-letters': `Usage: brisk dead-letters list [--function F] [--limit N]
       brisk dead-letters get <id>
       brisk dead-letters redrive <id> [--version N]
       brisk dead-letters delete <id>

Async invocations that failed after their retries end up here (by activation
id). redrive runs one again with the same event and prints the new
activation id; the entry is removed.`,

  alias: `Usage: brisk alias set <fn>:<alias> --version N [--weight V=SHARE …] [--description D]
       brisk alias ls <fn>
       brisk alias get <fn>:<alias>
       brisk alias rm <fn>:<alias>

An alias is a named pointer to a version (\`brisk invoke fn:prod\`, triggers and
on-failure targets may name \`fn:prod\`). --weight sends a share of the calls
to another version (repeatable; shares in (0, 1), summing below 1): with
\`--version 7 --weight 8=0.1\` one call in ten runs version 8. Every move is
kept in the alias's history for \`brisk rollback\`. \`<alias> --function <fn>\`
may replace \`<fn>:<alias>\` everywhere.`,

  provisioned: `Usage: brisk provisioned set <fn> <version|alias> <instances> [--window '<cron>,<minutes>,<instances>[,<timezone>]' …]
       brisk provisioned ls <fn>
       brisk provisioned get <fn> <version|alias>
       brisk provisioned rm <fn> <version|alias>

Keeps <instances> instances of a version (or of the versions an alias routes
to; they follow the alias when it moves) loaded across the executors, so calls
up to that many in flight never wait for a start. --window raises the count for
a while from each time a cron fires (repeatable), e.g.
  brisk provisioned set api prod 2 --window '0 9 * * 1-5,480,8,Europe/Paris'
keeps 2 loaded, and 8 on weekdays from 9:00 for 8 hours (Paris time; UTC when
no time zone is given). set replaces the whole config: windows not given again
are dropped. A count the cluster or the namespace's quota cannot hold is
refused with how many fit. ls shows READY as ready/wanted: instances loaded
now, out of those wanted now (windows included), per version too.`,

  rollback: `Usage: brisk rollback <fn>:<alias>

Moves the alias back to where it pointed before its last change (version and
weights); each rollback goes one step further back through its history.`,

  promote: `Usage: brisk promote <fn>:<from> <to>

Points alias <to> at the version alias <from> points at, without weights
(e.g. \`brisk promote api:canary prod\`); <to> is created if needed, and the
move can be undone with \`brisk rollback <fn>:<to>\`.`,

  usage: `Usage: brisk usage [--from T] [--to T]

Invocations and compute used over a period (ISO dates or times).`,
};

export function commandUsage(command: string): string {
  return `${COMMAND_USAGE[command] ?? CLIENT_USAGE}\n${COMMON}\n`;
}
