// Calls Register, Login and GetMe over gRPC-web with a generated Connect
// client, against the origin that served this page (the gateway), and
// writes what happened into #result for the end-to-end test to read.
import { createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { AuthService } from "./gen/freedumb/auth/v1/auth_pb";

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
  return {
    email,
    registeredUserId: registered.user?.id ?? "",
    loginHasTokens: Boolean(login.tokens?.accessToken && login.tokens?.refreshToken),
    meEmail: me.user?.email ?? "",
    meUserId: me.user?.id ?? "",
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
