// Helpers shared by the k6 scripts: the load test (deploy/load/load.js) and
// the blue-green drill's load (deploy/drill/load.js).
import grpc from 'k6/net/grpc';

// The value of -e NAME=..., which the script cannot run without.
export function required(name) {
  const value = __ENV[name];
  if (!value) {
    throw new Error(`this script needs -e ${name}=...`);
  }
  return value;
}

// The positive integer -e NAME=... gives, else `fallback`.
export function positiveInt(name, fallback) {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') {
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`${name} must be a positive integer, not ${raw}`);
  }
  return value;
}

// A unary call on `client`, as `token`'s user (none: anonymous), tagged
// with the name `rpc`.
export function invoke(client, method, message, token, rpc) {
  const params = { tags: { rpc }, timeout: '15s' };
  if (token) {
    params.metadata = { authorization: `Bearer ${token}` };
  }
  return client.invoke(method, message, params);
}

// A call of setup(), which must succeed: its answer's message.
export function mustInvoke(client, method, message, token, rpc) {
  const res = invoke(client, method, message, token, rpc);
  if (res.status !== grpc.StatusOK) {
    throw new Error(`${rpc} in setup failed: status ${res.status}: ${JSON.stringify(res.error)}`);
  }
  return res.message;
}

// Signs a user up and opens a EUR checking account with `openingMinor`
// (setup() of both scripts): the access token and the account's id.
export function signUpWithAccount(client, user) {
  const signedUp = mustInvoke(
    client,
    'freedumb.auth.v1.AuthService/Register',
    { email: user.email, password: user.password },
    null,
    'Register',
  );
  const token = signedUp.tokens.accessToken;
  const opened = mustInvoke(
    client,
    'freedumb.ledger.v1.LedgerService/CreateAccount',
    {
      account: {
        name: user.accountName,
        kind: 'ACCOUNT_KIND_CHECKING',
        openingBalance: { currencyCode: 'EUR', amountMinor: user.openingMinor },
      },
      requestId: user.requestId,
    },
    token,
    'CreateAccount',
  );
  return { token, accountId: opened.account.id };
}

// A gRPC client of the auth and ledger services, their protos read from
// -e PROTO_DIR (in the init context: at a script's top level).
export function edgeClient() {
  const client = new grpc.Client();
  client.load([required('PROTO_DIR')], 'freedumb/auth/v1/auth.proto', 'freedumb/ledger/v1/ledger.proto');
  return client;
}

// Connects `client` to Envoy's TLS edge at `edge`, trusting `caPem`.
export function connectEdge(client, edge, caPem) {
  client.connect(edge, { tls: { cacerts: [caPem] }, timeout: '10s' });
}

// Today (UTC) as a google.type.Date.
export function today() {
  const now = new Date();
  return { year: now.getUTCFullYear(), month: now.getUTCMonth() + 1, day: now.getUTCDate() };
}
