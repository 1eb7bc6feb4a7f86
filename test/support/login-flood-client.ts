/**
 * A login flood, run as its own process so that its event loop is not the measuring
 * test's: `node login-flood-client.js <url> <clients> <ms>`. Each client comes from its own
 * forwarded address (RFC 5737 documentation addresses, as X-Forwarded-For values only) and
 * tries usernames that do not exist. Prints `{"403": n, "429": n, "other": n}` at the end.
 */
const [url, clients, ms] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const until = Date.now() + ms;
const outcomes = { 403: 0, 429: 0, other: 0 };

async function attacker(i: number): Promise<void> {
  for (let n = 0; Date.now() < until; n++) {
    const reply = await fetch(`${url}/u/auth`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': `198.51.100.${i + 1}` },
      body: JSON.stringify({ username: `intruder-${i}-${n}`, password: 'wrong-password' }),
    });
    await reply.arrayBuffer();
    if (reply.status === 403 || reply.status === 429) outcomes[reply.status]++;
    else outcomes.other++;
  }
}

void Promise.all(Array.from({ length: clients }, (_, i) => attacker(i))).then(() => process.stdout.write(JSON.stringify(outcomes)));
