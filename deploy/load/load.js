// The platform's load test (deploy/scripts/load-test.sh runs it): virtual
// users that sign in, list accounts and transactions, create transactions
// (a quarter of them split across two categories), import a small CSV, and
// keep a watch stream open, through Envoy's TLS edge (gRPC) and through the
// REST gateway, at a constant arrival rate. The thresholds are the
// platform's targets; k6 exits 99 when one of them fails, and the driver
// reads the summary this script writes (SUMMARY) to find the highest rate at
// which they all hold.
//
// Parameters (k6 -e NAME=value):
//   EDGE        host:port of Envoy's TLS listener (its certificate names localhost)
//   CA          the CA certificate that signed Envoy's edge certificate
//   REST        base URL of the REST gateway (http://127.0.0.1:PORT)
//   PROTO_DIR   the repository's proto/ directory
//   RUN_ID      a tag for this run, used in e-mail addresses and request ids
//   RATE        requests per second of the mix (default 20)
//   DURATION    seconds the arrival rate is held (default 30)
//   USERS       users signed up in setup() (default 10)
//   WATCHERS    watch streams held open for the whole run (default USERS)
//   MAX_VUS     at most this many requests in flight (default 200)
//   SUMMARY     where to write the run's figures as JSON (default: none)
//
// Every loop is bounded: the arrival rate runs DURATION seconds, the
// watchers close their streams after it, and setup() makes USERS users.
import grpc from 'k6/net/grpc';
import http from 'k6/http';
import { Counter, Rate, Trend } from 'k6/metrics';
import exec from 'k6/execution';
import { setTimeout } from 'k6/timers';
import {
  connectEdge,
  edgeClient,
  invoke,
  mustInvoke,
  positiveInt,
  required,
  signUpWithAccount,
  today,
} from './lib.js';

const EDGE = required('EDGE');
const REST = required('REST').replace(/\/$/, '');
const RUN_ID = required('RUN_ID');
const CA_PEM = open(required('CA'));
const RATE = positiveInt('RATE', 20);
const DURATION = positiveInt('DURATION', 30);
const USERS = positiveInt('USERS', 10);
const WATCHERS = positiveInt('WATCHERS', USERS);
const MAX_VUS = positiveInt('MAX_VUS', 200);

// The mix: each iteration of the `api` scenario is one of these, by weight
// (they add up to 100). A third of the calls write.
const MIX = [
  ['Login', 2],
  ['GetMe', 10],
  ['ListAccounts', 15],
  ['ListTransactions', 20],
  ['REST ListTransactions', 15],
  ['CreateTransaction', 20],
  ['REST CreateTransaction', 17],
  ['REST CreateImport', 1],
];

// Lines of the CSV a user imports (each a new transaction, so the import
// also feeds the watchers).
const IMPORT_LINES = 10;

// The platform's targets.
const LATENCY = ['p(95)<200', 'p(99)<500'];

export const options = {
  scenarios: {
    api: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: `${DURATION}s`,
      preAllocatedVUs: Math.min(MAX_VUS, Math.max(8, Math.ceil(RATE / 4))),
      maxVUs: MAX_VUS,
      gracefulStop: '10s',
      exec: 'api',
    },
    watch: {
      executor: 'per-vu-iterations',
      vus: WATCHERS,
      iterations: 1,
      // Opened before the load starts, closed after it ends.
      maxDuration: `${DURATION + 20}s`,
      gracefulStop: '5s',
      exec: 'watch',
    },
  },
  thresholds: {
    'grpc_req_duration{scenario:api}': LATENCY,
    'http_req_duration{scenario:api}': LATENCY,
    // Any failed call fails the run (a rate found with failures is no rate).
    load_failures: ['count<1'],
    // Calls the arrival rate could not start (no free VU): at most 1%.
    dropped_iterations: [`count<${Math.max(1, Math.ceil(RATE * DURATION * 0.01))}`],
    // Live updates: from the commit (the event's create_time) to the
    // watcher, under 100 ms.
    watch_delivery: ['p(95)<100'],
    // Every watcher got events: a stream that delivered nothing proves nothing.
    watch_events: ['count>0'],
  },
  setupTimeout: '180s',
  summaryTrendStats: ['min', 'med', 'avg', 'p(95)', 'p(99)', 'max', 'count'],
};

// Each call's own latency, and the calls made, in the summary (a
// threshold that always holds makes k6 keep a submetric).
for (const [name] of MIX) {
  options.thresholds[`load_call{rpc:${name}}`] = ['max>=0'];
}
options.thresholds['iterations{scenario:api}'] = ['count>=0'];

const failures = new Counter('load_failures');
const calls = new Trend('load_call', true);
const watchDelivery = new Trend('watch_delivery', true);
const watchEvents = new Counter('watch_events');

const client = edgeClient();

function connect() {
  connectEdge(client, EDGE, CA_PEM);
}

function password(i) {
  return `load test ${RUN_ID} user ${i} passphrase`;
}

function email(i) {
  return `load-${RUN_ID}-${i}@example.com`;
}

function unary(method, message, token, rpc) {
  return invoke(client, method, message, token, rpc);
}

export function setup() {
  connect();
  const users = [];
  for (let i = 0; i < USERS; i += 1) {
    const { token, accountId } = signUpWithAccount(client, {
      email: email(i),
      password: password(i),
      accountName: `Load checking ${i}`,
      openingMinor: 500000,
      requestId: `${RUN_ID}-account-${i}`,
    });
    const categories = ['Groceries', 'Household'].map(
      (name) =>
        mustInvoke(
          client,
          'freedumb.ledger.v1.LedgerService/CreateCategory',
          { category: { name, kind: 'CATEGORY_KIND_EXPENSE' } },
          token,
          'CreateCategory',
        ).category.id,
    );
    users.push({ index: i, token, accountId, categories });
  }
  client.close();
  return { users };
}

// ---------------------------------------------------------------- api

let sequence = 0;
function requestId(kind) {
  sequence += 1;
  return `${RUN_ID}-${kind}-${exec.vu.idInTest}-${sequence}`;
}

// A new transaction: an expense, split across the user's two categories
// one time in four.
function newTransaction(user) {
  const amountMinor = -(200 + Math.floor(Math.random() * 9800));
  const transaction = {
    accountId: user.accountId,
    amount: { currencyCode: 'EUR', amountMinor: String(amountMinor) },
    date: today(),
    description: 'load test purchase',
    merchant: `Load Store ${Math.floor(Math.random() * 50)}`,
    requestId: requestId('tx'),
  };
  if (Math.random() < 0.25) {
    const first = Math.trunc(amountMinor / 2);
    transaction.splits = [
      { categoryId: user.categories[0], amountMinor: String(first) },
      { categoryId: user.categories[1], amountMinor: String(amountMinor - first) },
    ];
  } else {
    transaction.categoryId = user.categories[0];
  }
  return transaction;
}

function importCsv() {
  const { year, month, day } = today();
  const date = `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
  const lines = ['Date,Description,Amount'];
  const tag = requestId('csv');
  for (let i = 0; i < IMPORT_LINES; i += 1) {
    lines.push(`${date},"Imported ${tag} line ${i}",-${(1 + i * 1.25).toFixed(2)}`);
  }
  return `${lines.join('\r\n')}\r\n`;
}

function restParams(user, rpc, contentType) {
  return {
    headers: {
      authorization: `Bearer ${user.token}`,
      'content-type': contentType || 'application/json',
    },
    tags: { rpc, name: rpc },
    timeout: '15s',
  };
}

function pick() {
  let roll = Math.random() * 100;
  for (const [name, weight] of MIX) {
    if (roll < weight) {
      return name;
    }
    roll -= weight;
  }
  return MIX[MIX.length - 1][0];
}

// One call; answers [ok, detail].
function call(name, user) {
  switch (name) {
    case 'Login': {
      const res = unary(
        'freedumb.auth.v1.AuthService/Login',
        { email: email(user.index), password: password(user.index) },
        null,
        name,
      );
      return grpcOutcome(res);
    }
    case 'GetMe':
      return grpcOutcome(unary('freedumb.auth.v1.AuthService/GetMe', {}, user.token, name));
    case 'ListAccounts':
      return grpcOutcome(
        unary('freedumb.ledger.v1.LedgerService/ListAccounts', { pageSize: 10 }, user.token, name),
      );
    case 'ListTransactions':
      return grpcOutcome(
        unary(
          'freedumb.ledger.v1.LedgerService/ListTransactions',
          { accountId: user.accountId, pageSize: 20 },
          user.token,
          name,
        ),
      );
    case 'CreateTransaction':
      return grpcOutcome(
        unary('freedumb.ledger.v1.LedgerService/CreateTransaction', newTransaction(user), user.token, name),
      );
    case 'REST ListTransactions':
      return httpOutcome(
        http.get(
          `${REST}/v1/transactions?accountId=${user.accountId}&pageSize=20`,
          restParams(user, name),
        ),
      );
    case 'REST CreateTransaction':
      return httpOutcome(
        http.post(`${REST}/v1/transactions`, JSON.stringify(newTransaction(user)), restParams(user, name)),
      );
    case 'REST CreateImport':
      return httpOutcome(
        http.post(
          `${REST}/v1/accounts/${user.accountId}/imports?requestId=${requestId('import')}`,
          importCsv(),
          restParams(user, name, 'text/csv'),
        ),
      );
    default:
      throw new Error(`unknown call ${name}`);
  }
}

function grpcOutcome(res) {
  if (res.status === grpc.StatusOK) {
    return [true, ''];
  }
  const message = res.error ? String(res.error.message || JSON.stringify(res.error)) : '';
  return [false, `status ${res.status}: ${message}`];
}

function httpOutcome(res) {
  if (res.status >= 200 && res.status < 300) {
    return [true, ''];
  }
  return [false, `HTTP ${res.status}: ${String(res.body).slice(0, 200)}`];
}

let connected = false;

export function api(data) {
  const user = data.users[Math.floor(Math.random() * data.users.length)];
  const name = pick();
  const started = Date.now();
  let ok;
  let detail;
  try {
    if (!connected) {
      connect();
      connected = true;
    }
    [ok, detail] = call(name, user);
  } catch (e) {
    // A call that could not even be made (no connection): a failure too,
    // and the next iteration connects again.
    connected = false;
    client.close();
    [ok, detail] = [false, `threw: ${e}`];
  }
  calls.add(Date.now() - started, { rpc: name });
  if (!ok) {
    failures.add(1, { rpc: name });
    console.error(`${name} failed: ${detail.slice(0, 300)}`);
  }
}

// ---------------------------------------------------------------- watch

// Milliseconds since the epoch of an RFC 3339 timestamp, keeping the
// fraction below the millisecond.
function epochMs(timestamp) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?Z$/.exec(timestamp || '');
  if (!m) {
    return NaN;
  }
  const whole = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  const fraction = m[7] ? Number(`0.${m[7]}`) * 1000 : 0;
  return whole + fraction;
}

export function watch(data) {
  const user = data.users[(exec.vu.idInTest - 1) % data.users.length];
  connect();
  const stream = new grpc.Stream(client, 'freedumb.ledger.v1.LedgerService/WatchTransactions', {
    metadata: { authorization: `Bearer ${user.token}` },
    tags: { rpc: 'WatchTransactions' },
  });
  let closing = false;
  // A sample of 0, so that a run in which no watcher saw an event fails
  // `count>0` instead of leaving the metric empty (and unjudged).
  watchEvents.add(0);
  stream.on('data', (response) => {
    const event = response.event || {};
    if (!event.transactionCreated) {
      return;
    }
    const committed = epochMs(event.createTime);
    if (!Number.isNaN(committed)) {
      watchDelivery.add(Math.max(0, Date.now() - committed));
    }
    watchEvents.add(1);
  });
  stream.on('error', (e) => {
    if (!closing) {
      failures.add(1, { rpc: 'WatchTransactions' });
      console.error(`WatchTransactions failed: ${JSON.stringify(e)}`);
    }
  });
  stream.write({ accountId: user.accountId });
  // Held through the whole arrival rate, then closed from this side.
  setTimeout(() => {
    closing = true;
    client.close();
  }, (DURATION + 5) * 1000);
}

// ---------------------------------------------------------------- summary

function metric(data, name) {
  const m = data.metrics[name];
  if (!m) {
    return null;
  }
  const thresholds = {};
  for (const [expr, result] of Object.entries(m.thresholds || {})) {
    thresholds[expr] = result.ok;
  }
  return { values: m.values, thresholds };
}

export function handleSummary(data) {
  const figures = {
    rate: RATE,
    duration: DURATION,
    users: USERS,
    watchers: WATCHERS,
    metrics: {},
    calls: {},
  };
  for (const name of [
    'grpc_req_duration{scenario:api}',
    'http_req_duration{scenario:api}',
    'load_call',
    'load_failures',
    'dropped_iterations',
    'iterations{scenario:api}',
    'watch_delivery',
    'watch_events',
  ]) {
    figures.metrics[name] = metric(data, name);
  }
  for (const [name] of MIX) {
    figures.calls[name] = metric(data, `load_call{rpc:${name}}`);
  }
  const out = { stdout: '' };
  if (__ENV.SUMMARY) {
    out[__ENV.SUMMARY] = JSON.stringify(figures, null, 2);
  }
  return out;
}
