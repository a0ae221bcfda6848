// Calls Register, Login and GetMe over gRPC-web with a generated Connect
// client, against the origin that served this page (the gateway); then
// imports a bank statement twice: uploaded over REST as a file (followed
// to its end over the NDJSON watch), and over gRPC-web. Writes what
// happened into #result for the end-to-end test to read.
import { createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { AuthService } from "./gen/freedumb/auth/v1/auth_pb";
import { LedgerService } from "./gen/freedumb/ledger/v1/ledger_pb";
import { OperationState } from "./gen/freedumb/common/v1/operation_pb";

const STATEMENT = [
  "Date;Description;Amount",
  "02.01.2026;Bakery;-3,20",
  "03.01.2026;Salary;2.500,00",
  "04.01.2026;Rent;-900,00",
  "",
].join("\r\n");

/// Uploads the statement as a file over REST and reads the operation's
/// NDJSON watch until it ends; its last state.
async function importOverRest(bearer: string, accountId: string): Promise<Record<string, unknown>> {
  const file = new File([STATEMENT], "january.csv", { type: "text/csv" });
  const started = await fetch(`/v1/accounts/${accountId}/imports`, {
    method: "POST",
    headers: { authorization: bearer, "content-type": file.type },
    body: file,
  });
  if (!started.ok) throw new Error(`upload: ${started.status} ${await started.text()}`);
  const operationId = (await started.json()).operation.id as string;
  const watch = await fetch(`/v1/ledger/operations/${operationId}:watch`, {
    headers: { authorization: bearer },
  });
  if (!watch.body) throw new Error("the watch has no body");
  const reader = watch.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let updates = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the watch ended before the import");
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf("\n")) >= 0) {
      const update = JSON.parse(buffer.slice(0, end));
      buffer = buffer.slice(end + 1);
      updates += 1;
      if (update.operation.state !== "OPERATION_STATE_RUNNING") {
        await reader.cancel();
        return {
          restState: update.operation.state,
          restImported: Number(update.import.imported),
          restUpdates: updates,
        };
      }
    }
  }
}

async function run(): Promise<Record<string, unknown>> {
  const transport = createGrpcWebTransport({ baseUrl: window.location.origin });
  const auth = createClient(AuthService, transport);
  const email = `browser-${crypto.randomUUID()}@example.com`;
  const password = "a browser's own passphrase 42";
  const registered = await auth.register({ email, password });
  const login = await auth.login({ email, password });
  const me = await auth.getMe(
    {},
    { headers: { authorization: `Bearer ${login.tokens?.accessToken ?? ""}` } },
  );
  const bearer = `Bearer ${login.tokens?.accessToken ?? ""}`;
  const headers = { authorization: bearer };
  const ledger = createClient(LedgerService, transport);
  const { account } = await ledger.createAccount(
    {
      account: {
        name: "Browser checking",
        kind: 1,
        openingBalance: { currencyCode: "EUR", amountMinor: 0n },
      },
    },
    { headers },
  );
  const accountId = account?.id ?? "";
  const rest = await importOverRest(bearer, accountId);
  // The same file over gRPC-web: every line is a duplicate now.
  const started = await ledger.createImport(
    {
      accountId,
      file: { contentType: "text/csv", data: new TextEncoder().encode(STATEMENT) },
    },
    { headers },
  );
  let state = started.operation?.state;
  let progress = started.import;
  const operationId = started.operation?.id ?? "";
  for (let i = 0; i < 100 && state === OperationState.RUNNING; i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const got = await ledger.getOperation({ operationId }, { headers });
    state = got.operation?.state;
    progress = got.import;
  }
  return {
    email,
    registeredUserId: registered.user?.id ?? "",
    loginHasTokens: Boolean(login.tokens?.accessToken && login.tokens?.refreshToken),
    meEmail: me.user?.email ?? "",
    meUserId: me.user?.id ?? "",
    ...rest,
    grpcWebSucceeded: state === OperationState.SUCCEEDED,
    grpcWebDuplicates: Number(progress?.skippedDuplicates ?? 0n),
  };
}

const out = document.getElementById("result");
run()
  .then((result) => {
    if (out) out.textContent = JSON.stringify({ ok: true, ...result });
  })
  .catch((error: unknown) => {
    if (out) out.textContent = JSON.stringify({ ok: false, error: String(error) });
  });
