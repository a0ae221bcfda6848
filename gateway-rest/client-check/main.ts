// A small client of the REST gateway written against the types that
// openapi-typescript generates from ../openapi.json (api.d.ts), as a web or
// mobile team would write it. `npm run check` regenerates the types and
// type-checks this file under strict mode: a path, parameter, body or
// response the document gets wrong for clients is a compile error here.
//
// It is type-checked, not run (the drills run the gateway); `demo` is what a
// client would call with the gateway's URL.

import createClient from "openapi-fetch";

import type { components, paths } from "./api";

type Schemas = components["schemas"];
type Account = Schemas["freedumb.ledger.v1.Account"];
type Transaction = Schemas["freedumb.ledger.v1.Transaction"];
type Status = Schemas["google.rpc.Status"];

/** The gateway's error (a google.rpc.Status) as one line. */
function describe(status: Status | undefined, response: Response): string {
  return `${response.status} ${status?.message ?? response.statusText}`;
}

/** Formats a Money value: the amount is a string of minor units (int64). */
function money(value: Schemas["freedumb.common.v1.Money"] | undefined): string {
  const minor = BigInt(value?.amountMinor ?? "0");
  return `${minor} ${value?.currencyCode ?? ""} (minor units)`;
}

export async function demo(baseUrl: string, email: string, password: string): Promise<string[]> {
  const lines: string[] = [];
  const api = createClient<paths>({ baseUrl });

  // Sign up, then sign in: the public auth routes take their body as is.
  const registered = await api.POST("/v1/auth:register", { body: { email, password } });
  if (registered.error) throw new Error(`register: ${describe(registered.error, registered.response)}`);
  const login = await api.POST("/v1/auth:login", { body: { email, password } });
  if (login.error) throw new Error(`login: ${describe(login.error, login.response)}`);
  const accessToken: string | undefined = login.data.tokens?.accessToken;
  if (!accessToken) throw new Error("login answered without an access token");
  const refreshExpiry: string | undefined = login.data.tokens?.refreshTokenExpireTime;
  lines.push(`signed in as ${login.data.user?.email ?? email}; session until ${refreshExpiry ?? "?"}`);

  const authed = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${accessToken}` } });

  // Create an account (the request id makes a retry idempotent).
  const created = await authed.POST("/v1/accounts", {
    params: { query: { requestId: crypto.randomUUID() } },
    body: {
      name: "Everyday",
      kind: "ACCOUNT_KIND_CHECKING",
      openingBalance: { amountMinor: "125000", currencyCode: "EUR" },
    },
  });
  if (created.error) throw new Error(`create account: ${describe(created.error, created.response)}`);
  const account: Account | undefined = created.data.account;
  const accountId = account?.id;
  if (!accountId) throw new Error("the created account has no id");
  lines.push(`created ${account.name} (${account.kind}): ${money(account.balance)}`);

  // List the account's transactions in March 2026, page by page.
  let pageToken: string | undefined;
  const transactions: Transaction[] = [];
  do {
    const page = await authed.GET("/v1/transactions", {
      params: {
        query: {
          accountId,
          pageSize: 100,
          startDate: "2026-03-01",
          endDate: "2026-03-31",
          ...(pageToken ? { pageToken } : {}),
        },
      },
    });
    if (page.error) throw new Error(`list transactions: ${describe(page.error, page.response)}`);
    transactions.push(...(page.data.transactions ?? []));
    pageToken = page.data.nextPageToken || undefined;
  } while (pageToken);
  for (const t of transactions) {
    lines.push(`${t.date?.year}-${t.date?.month}-${t.date?.day} ${t.description ?? ""}: ${money(t.amount)}`);
  }

  // Rename it: PATCH with the path parameter `account_id` (the document's
  // name for the field `account.id`), the body only what the mask names.
  const renamed = await authed.PATCH("/v1/accounts/{account_id}", {
    params: { path: { account_id: accountId }, query: { updateMask: "name" } },
    body: { name: "Everyday spending" },
  });
  if (renamed.error) throw new Error(`rename: ${describe(renamed.error, renamed.response)}`);
  lines.push(`renamed to ${renamed.data.account?.name ?? "?"}`);

  // Read it back by its id.
  const read = await authed.GET("/v1/accounts/{account_id}", {
    params: { path: { account_id: accountId } },
  });
  if (read.error) throw new Error(`get account: ${describe(read.error, read.response)}`);
  lines.push(`balance now ${money(read.data.account?.balance)}`);
  return lines;
}
