// A client of authgate written against the types generated from its
// OpenAPI document (generated/api.d.ts, by scripts/ts-client-check). It is
// only type-checked: when the document changes shape, this stops compiling.
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/api";

type User = components["schemas"]["User"];
type Role = User["role"];

export async function signInRefreshAndReadMe(
  baseUrl: string,
  email: string,
  password: string,
  // The authenticator app's current code, for an account with TOTP on.
  totpCode?: () => string,
): Promise<User> {
  const api = createClient<paths>({ baseUrl });

  const login = await api.POST("/api/v1/auth/login/", {
    body: { email_or_phone: email, password },
  });
  if (login.error) {
    // The error envelope names the fields it complains about.
    const fields: string[] = Object.keys(login.error.errors ?? {});
    throw new Error(`sign-in failed: ${login.error.message} (${fields.join(", ")})`);
  }
  let signedIn = login.data.data;
  if ("mfa_required" in signedIn) {
    // The second step (§15.2): the account has a second factor.
    if (!totpCode || !signedIn.methods.includes("totp")) {
      throw new Error(`a second factor is required: ${signedIn.methods.join(", ")}`);
    }
    const verified = await api.POST("/api/v1/auth/mfa/verify/", {
      body: { mfa_token: signedIn.mfa_token, code: totpCode() },
    });
    if (verified.error) {
      throw new Error(`second factor refused: ${verified.error.message}`);
    }
    signedIn = verified.data.data;
  }
  const { refresh } = signedIn;

  const refreshed = await api.POST("/api/v1/auth/token/refresh/", { body: { refresh } });
  if (refreshed.error) {
    throw new Error(`refresh failed: ${refreshed.error.message}`);
  }
  const access: string = refreshed.data.data.access;

  const me = await api.GET("/api/v1/auth/me/", {
    headers: { Authorization: `Bearer ${access}` },
  });
  if (me.error) {
    throw new Error(`me failed: ${me.error.message}`);
  }
  const user = me.data.data.user;
  const role: Role = user.role;
  // `email`, `phone`, or the name of a social sign-in provider (§16).
  const provider: string = user.auth_provider;
  const lastLogin: string | null = user.last_login;
  console.log(user.id, role, provider, lastLogin ?? "never");
  return user;
}

export async function registerVendor(baseUrl: string) {
  const api = createClient<paths>({ baseUrl });
  const answer = await api.POST("/api/v1/auth/register/", {
    body: { email: "ana@example.com", password: "correct horse battery staple", first_name: "Ana", role: "vendor" },
  });
  // Staff and admin cannot be chosen at registration: the type says so.
  // @ts-expect-error "staff" is not a self-registration role
  const bad: NonNullable<paths["/api/v1/auth/register/"]["post"]["requestBody"]>["content"]["application/json"]["role"] = "staff";
  return [answer.response.status, bad] as const;
}
