// Steady gRPC load for the blue-green drill (deploy/scripts/blue-green.sh),
// through Envoy's TLS edge: a few users sign up in setup(), then a constant
// arrival rate of mostly reads and some writes. Every answer names the
// colour that served it (Envoy adds `x-freedumb-colour` per route), so the
// drill can tell when traffic moved.
//
// Parameters (k6 -e NAME=value):
//   EDGE       host:port of Envoy's TLS listener (its certificate names localhost)
//   CA         the CA certificate that signed Envoy's edge certificate
//   PROTO_DIR  the repository's proto/ directory
//   RUN_ID     a tag for this run, used in e-mail addresses and request ids
//   RATE       requests per second (default 50)
//   USERS      users signed up in setup() (default 4)
//   MAX_VUS    at most this many concurrent requests (default 100)
import grpc from 'k6/net/grpc';
import { Counter } from 'k6/metrics';
import exec from 'k6/execution';
import {
  connectEdge,
  edgeClient,
  invoke,
  positiveInt,
  required,
  signUpWithAccount,
  today,
} from '../load/lib.js';

const EDGE = required('EDGE');
const RUN_ID = required('RUN_ID');
const CA_PEM = open(required('CA'));
const RATE = positiveInt('RATE', 50);
const USERS = positiveInt('USERS', 4);
const MAX_VUS = positiveInt('MAX_VUS', 100);

// The share of each call in the mix (the rest is CreateTransaction).
const GET_ME = 0.4;
const LIST_ACCOUNTS = 0.4;

export const options = {
  // No thresholds here: the drill's own report judges the run, per window.
  scenarios: {
    load: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      // The drill stops k6 through its REST API when the last step is done;
      // this only bounds a run whose driver died.
      duration: '30m',
      preAllocatedVUs: Math.min(MAX_VUS, Math.max(4, Math.ceil(RATE / 5))),
      maxVUs: MAX_VUS,
      gracefulStop: '10s',
    },
  },
  setupTimeout: '120s',
};

const answers = new Counter('drill_answers');
const failures = new Counter('drill_failures');

const client = edgeClient();

function connect() {
  connectEdge(client, EDGE, CA_PEM);
}

function call(method, message, token, rpc) {
  return invoke(client, method, message, token, rpc);
}

export function setup() {
  connect();
  const users = [];
  for (let i = 0; i < USERS; i += 1) {
    users.push(
      signUpWithAccount(client, {
        email: `drill-${RUN_ID}-${i}@example.com`,
        password: `blue green drill ${RUN_ID} ${i} passphrase`,
        accountName: `Drill checking ${i}`,
        openingMinor: 100000,
        requestId: `${RUN_ID}-account-${i}`,
      }),
    );
  }
  client.close();
  return { users };
}

function request(user) {
  const pick = Math.random();
  if (pick < GET_ME) {
    return ['GetMe', call('freedumb.auth.v1.AuthService/GetMe', {}, user.token, 'GetMe')];
  }
  if (pick < GET_ME + LIST_ACCOUNTS) {
    return [
      'ListAccounts',
      call('freedumb.ledger.v1.LedgerService/ListAccounts', { pageSize: 10 }, user.token, 'ListAccounts'),
    ];
  }
  return [
    'CreateTransaction',
    call(
      'freedumb.ledger.v1.LedgerService/CreateTransaction',
      {
        accountId: user.accountId,
        amount: { currencyCode: 'EUR', amountMinor: -(100 + Math.floor(Math.random() * 4900)) },
        date: today(),
        description: 'blue-green drill',
        merchant: 'Drill Coffee',
        requestId: `${RUN_ID}-${exec.vu.idInTest}-${exec.vu.iterationInScenario}`,
      },
      user.token,
      'CreateTransaction',
    ),
  ];
}

let connected = false;

export default function (data) {
  const user = data.users[exec.vu.idInTest % data.users.length];
  let rpc = 'connect';
  let res;
  try {
    if (!connected) {
      connect();
      connected = true;
    }
    [rpc, res] = request(user);
  } catch (e) {
    // A call that could not even be made (no connection): a failure too,
    // and the next iteration connects again.
    connected = false;
    client.close();
    failures.add(1, { rpc, colour: 'none', status: 'exception', message: String(e).slice(0, 200) });
    console.error(`${rpc} threw: ${e}`);
    return;
  }
  const colour = ((res.headers || {})['x-freedumb-colour'] || ['none'])[0];
  answers.add(1, { rpc, colour });
  if (res.status !== grpc.StatusOK) {
    const message = res.error ? String(res.error.message || JSON.stringify(res.error)) : '';
    failures.add(1, { rpc, colour, status: String(res.status), message: message.slice(0, 200) });
    console.error(`${rpc} failed on ${colour}: status ${res.status}: ${message}`);
  }
}
