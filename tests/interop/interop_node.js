#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// Interop scenario with @grpc/grpc-js and @grpc/proto-loader: the gateway over mutual TLS,
// with the messages loaded from the .proto files (no generated code, no protoset).
//
// Run by ctest through test-stack (tests/interop/tests.cmake), which starts the stack and sets
// COALITION_TEST_GATEWAY, COALITION_TEST_GATEWAY_HEALTH and COALITION_TEST_PKI; the packages
// come from NODE_PATH (<build>/interop-node/node_modules, installed by the npm fixture).
// Prints one line per check and "N passed, M failed"; exits 1 on failure.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_DIR = process.env.COALITION_TEST_PROTO_DIR || path.join(__dirname, '..', '..', 'proto');
const TRUST_DOMAIN = process.env.COALITION_TEST_TRUST_DOMAIN || 'coalition.local';
const PARTNERS = 'coalition.v1.Partners';
const S = grpc.status;
const NAME = Object.fromEntries(Object.entries(S).map(([k, v]) => [v, k]));

function env(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`${name} is not set: run this through ctest (test-stack)`);
    process.exit(2);
  }
  return v;
}

const GATEWAY = env('COALITION_TEST_GATEWAY');
const HEALTH = env('COALITION_TEST_GATEWAY_HEALTH');
const PKI = env('COALITION_TEST_PKI');

const packageDefinition = protoLoader.loadSync(
  ['coalition/v1/partners.proto', 'coalition/v1/points.proto', 'coalition/v1/referrals.proto',
   'grpc/health/v1/health.proto'],
  {
    includeDirs: [PROTO_DIR, '/usr/include', '/usr/share/grpc-proto'],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
const api = grpc.loadPackageDefinition(packageDefinition);

// --- checks ---

let passed = 0;
let failed = 0;

function check(name, cond, detail) {
  if (cond) {
    passed++;
    console.log(`ok   ${name}`);
  } else {
    failed++;
    console.log(`FAIL ${name}${detail ? ': ' + detail : ''}`);
  }
  return Boolean(cond);
}

// got is an outcome {code, value, details}; want a status code or an array of them.
function checkStatus(name, got, want) {
  const wants = Array.isArray(want) ? want : [want];
  let shown = wants.map((w) => NAME[w]).join('/');
  if (wants.length > 1 && wants.includes(got.code)) {
    shown += ` (${NAME[got.code]})`;
  }
  return check(`${name} -> ${shown}`, wants.includes(got.code),
               `got ${NAME[got.code]} ${JSON.stringify(got.details)}`);
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowMs = () => Number(process.hrtime.bigint() / 1000000n);

// --- clients ---

function sslCreds(identity) {
  const rd = (f) => fs.readFileSync(path.join(PKI, f));
  if (identity === null) {
    return grpc.credentials.createSsl(rd('ca.crt'));
  }
  return grpc.credentials.createSsl(rd('ca.crt'), rd(`${identity}.key`), rd(`${identity}.crt`));
}

// A Partners client, a Points client and a generic client on one channel per identity.
function clientsFor(identity) {
  const creds = sslCreds(identity);
  const partners = new api.coalition.v1.Partners(GATEWAY, creds);
  const channelOverride = partners.getChannel();
  return {
    partners,
    points: new api.coalition.v1.Points(GATEWAY, creds, { channelOverride }),
    referrals: new api.coalition.v1.Referrals(GATEWAY, creds, { channelOverride }),
    generic: new grpc.Client(GATEWAY, creds, { channelOverride }),
    close() { partners.close(); },
  };
}

// Resolves to {code, value, details}; never rejects on a gRPC error.
function unary(client, method, request, { metadata, timeoutMs = 10000 } = {}) {
  return new Promise((resolve) => {
    const md = new grpc.Metadata();
    for (const [k, v] of metadata || []) {
      md.add(k, v);
    }
    client[method](request, md, { deadline: Date.now() + timeoutMs }, (err, value) => {
      if (err) {
        resolve({ code: err.code, value: null, details: err.details });
      } else {
        resolve({ code: S.OK, value, details: '' });
      }
    });
  });
}

// Sends bytes as they are to any path; the response bytes come back undecoded.
function raw(client, methodPath, bytes, timeoutMs = 10000) {
  return new Promise((resolve) => {
    client.makeUnaryRequest(methodPath, (b) => b, (b) => b, bytes, new grpc.Metadata(),
      { deadline: Date.now() + timeoutMs }, (err, value) => {
        if (err) {
          resolve({ code: err.code, value: null, details: err.details });
        } else {
          resolve({ code: S.OK, value, details: '' });
        }
      });
  });
}

const tsMs = (t) => (t ? Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6) : NaN);

// --- the scenario ---

async function main() {
  const run = crypto.randomBytes(6).toString('hex');
  const admin = clientsFor('admin-operator');
  const bakery = clientsFor('partner-bakery');
  const state = {};

  // 1. health on the plaintext health listener
  async function health() {
    const h = new api.grpc.health.v1.Health(HEALTH, grpc.credentials.createInsecure());
    try {
      for (const service of ['', PARTNERS]) {
        const got = await unary(h, 'Check', { service }, { timeoutMs: 5000 });
        check(`health Check '${service}' -> SERVING`,
              got.code === S.OK && got.value.status === 'SERVING',
              `got ${NAME[got.code]} ${JSON.stringify(got.value)} ${got.details}`);
      }
      checkStatus("health Check 'coalition.v1.NoSuchService'",
                  await unary(h, 'Check', { service: 'coalition.v1.NoSuchService' }),
                  S.NOT_FOUND);
    } finally {
      h.close();
    }
  }

  // The gateway does not know bakery yet: refused, and the refusal is cached (at most 1 s).
  async function beforeRegistration() {
    checkStatus('bakery before registration', await unary(bakery.partners, 'GetPartner', {}),
                S.UNAUTHENTICATED);
  }

  // 2./3. RegisterPartner, idempotent by request_id
  const regReq = {
    request_id: `interop-node-register-${run}`,
    partner_id: 'bakery',
    name: 'Bäckerei Interop',
    settlement_currency: 'EUR',
    contact: { name: 'Ada Baker', email: 'ada@bakery.example', phone: '+4930123456' },
  };

  async function register() {
    const t0 = Date.now();
    const got = await unary(admin.partners, 'RegisterPartner', regReq);
    state.registeredAt = nowMs();
    if (!check('admin RegisterPartner bakery -> OK', got.code === S.OK,
               `got ${NAME[got.code]} ${JSON.stringify(got.details)}`)) {
      return;
    }
    state.register = got.value;
    const p = got.value.partner || {};
    check('registered partner_id', p.partner_id === 'bakery', JSON.stringify(p));
    check('registered name', p.name === regReq.name, JSON.stringify(p.name));
    check('registered status PENDING', p.status === 'PARTNER_STATUS_PENDING',
          JSON.stringify(p.status));
    const wantId = `spiffe://${TRUST_DOMAIN}/partner/bakery`;
    check(`registered certificate_identity defaults to ${wantId}`,
          p.certificate_identity === wantId, JSON.stringify(p.certificate_identity));
    check('registered settlement_currency', p.settlement_currency === 'EUR',
          JSON.stringify(p.settlement_currency));
    check('registered contact', same(p.contact, regReq.contact), JSON.stringify(p.contact));
    check('registered status_reason empty', p.status_reason === '',
          JSON.stringify(p.status_reason));
    const ct = tsMs(p.create_time);
    const ut = tsMs(p.update_time);
    check('registered create_time is now and update_time equals it',
          Math.abs(ct - t0) < 300000 && same(p.create_time, p.update_time),
          `${JSON.stringify(p.create_time)} ${JSON.stringify(p.update_time)} (${ut})`);
  }

  async function registerAgain() {
    const got = await unary(admin.partners, 'RegisterPartner', regReq);
    check('same RegisterPartner again -> identical response',
          got.code === S.OK && same(got.value, state.register),
          `got ${NAME[got.code]} ${JSON.stringify(got.details)} ${JSON.stringify(got.value)}`);
    checkStatus('same request_id, other content',
                await unary(admin.partners, 'RegisterPartner', { ...regReq, name: 'Another Bakery' }),
                S.ALREADY_EXISTS);
    checkStatus('new request_id, partner_id taken',
                await unary(admin.partners, 'RegisterPartner',
                            { ...regReq, request_id: `interop-node-register-dup-${run}` }),
                S.ALREADY_EXISTS);
  }

  // 4. bakery reads itself (accepted within 2 s of registering despite the cached refusal)
  async function bakerySelf() {
    const start = state.registeredAt || nowMs();
    let attempts = 0;
    let got;
    for (;;) {
      attempts++;
      got = await unary(bakery.partners, 'GetPartner', {});
      if (got.code !== S.UNAUTHENTICATED || nowMs() - start >= 2000) {
        break;
      }
      await sleep(100);
    }
    const took = ((nowMs() - start) / 1000).toFixed(2);
    check(`bakery GetPartner {} -> OK (${attempts} attempt(s), ${took} s after registering)`,
          got.code === S.OK, `got ${NAME[got.code]} ${JSON.stringify(got.details)}`);
    if (got.code === S.OK) {
      const want = (state.register || {}).partner;
      check('bakery GetPartner {} -> its own record as registered', same(got.value.partner, want),
            `${JSON.stringify(got.value.partner)} != ${JSON.stringify(want)}`);
    }
  }

  // 5. a partner cannot act as admin, whatever metadata it sends
  async function partnerNotAdmin() {
    const spoof = [['coalition-partner-id', 'operator'], ['coalition-role', 'admin']];
    checkStatus('bakery ListPartners', await unary(bakery.partners, 'ListPartners', {}),
                S.PERMISSION_DENIED);
    checkStatus('bakery ListPartners with admin metadata',
                await unary(bakery.partners, 'ListPartners', {}, { metadata: spoof }),
                S.PERMISSION_DENIED);
    checkStatus('bakery GetPartner operator with admin metadata',
                await unary(bakery.partners, 'GetPartner', { partner_id: 'operator' },
                            { metadata: spoof }),
                S.PERMISSION_DENIED);
  }

  // 6. certificates the gateway must refuse
  async function refusedCertificates() {
    let c = clientsFor('partner-ghost');
    checkStatus('partner-ghost (unregistered) GetPartner',
                await unary(c.partners, 'GetPartner', {}, { timeoutMs: 5000 }), S.UNAUTHENTICATED);
    c.close();
    for (const [identity, label] of [['foreign-bakery', 'foreign-bakery (other CA)'],
                                     ['expired-bakery', 'expired-bakery (expired certificate)'],
                                     [null, 'no client certificate']]) {
      c = clientsFor(identity);
      checkStatus(`${label} GetPartner, handshake refused`,
                  await unary(c.partners, 'GetPartner', {}, { timeoutMs: 5000 }), S.UNAVAILABLE);
      c.close();
    }
  }

  // 7. activation and paging
  async function activateAndList() {
    const req = {
      request_id: `interop-node-activate-${run}`,
      partner_id: 'bakery',
      status: 'PARTNER_STATUS_ACTIVE',
      reason: 'interop: documents checked',
    };
    let got = await unary(admin.partners, 'SetPartnerStatus', req);
    const p = (got.value && got.value.partner) || {};
    check('admin SetPartnerStatus bakery ACTIVE -> ACTIVE',
          got.code === S.OK && p.status === 'PARTNER_STATUS_ACTIVE',
          `got ${NAME[got.code]} ${JSON.stringify(got.details)} ${JSON.stringify(got.value)}`);
    check('status_reason kept', p.status_reason === req.reason, JSON.stringify(p.status_reason));
    const ids = [];
    let token = '';
    let pages = 0;
    let sizesOk = true;
    while (pages < 50) {
      got = await unary(admin.partners, 'ListPartners', { page_size: 1, page_token: token });
      if (got.code !== S.OK) {
        break;
      }
      pages++;
      sizesOk = sizesOk && got.value.partners.length <= 1;
      ids.push(...got.value.partners.map((x) => x.partner_id));
      token = got.value.next_page_token;
      if (!token) {
        break;
      }
    }
    check(`ListPartners page_size 1 walked to the end (${pages} pages)`,
          got.code === S.OK && token === '',
          `got ${NAME[got.code]} ${JSON.stringify(got.details)}, token ${JSON.stringify(token)}`);
    check('every page has at most 1 partner', sizesOk);
    const sortedUnique = [...new Set(ids)].sort();
    check(`pages list operator and bakery, in order, once each: ${JSON.stringify(ids)}`,
          ids.includes('operator') && ids.includes('bakery') && same(ids, sortedUnique),
          JSON.stringify(ids));
    got = await unary(admin.partners, 'GetPartner', { partner_id: 'bakery' });
    check('admin GetPartner bakery -> ACTIVE',
          got.code === S.OK && got.value.partner.status === 'PARTNER_STATUS_ACTIVE',
          `got ${NAME[got.code]} ${JSON.stringify(got.details)} ${JSON.stringify(got.value)}`);
  }

  // 8. what the gateway does with calls it cannot route or decode
  async function badCalls() {
    const ff = Buffer.from([0xff, 0xff, 0xff]);
    checkStatus('unknown method coalition.v1.Partners/NoSuchMethod',
                await raw(admin.generic, `/${PARTNERS}/NoSuchMethod`, Buffer.alloc(0)),
                S.UNIMPLEMENTED);
    checkStatus('unknown service coalition.v1.NoSuchService/Get',
                await raw(admin.generic, '/coalition.v1.NoSuchService/Get', Buffer.alloc(0)),
                S.UNIMPLEMENTED);
    checkStatus('malformed bytes ff ff ff to GetPartner',
                await raw(admin.generic, `/${PARTNERS}/GetPartner`, ff), S.INVALID_ARGUMENT);
    checkStatus('malformed bytes ff ff ff to GetPartner as bakery',
                await raw(bakery.generic, `/${PARTNERS}/GetPartner`, ff), S.INVALID_ARGUMENT);
  }

  // 9. a service that is not running: a prompt error within the deadline, never a hang
  async function serviceDown() {
    for (const [who, c] of [['admin', admin], ['bakery', bakery]]) {
      const t0 = nowMs();
      const got = await unary(c.referrals, 'GetReferralStats', { program_code: 'interop-points' },
                              { timeoutMs: 200 });
      const took = (nowMs() - t0) / 1000;
      checkStatus(`${who} Referrals/GetReferralStats, service down, 200 ms deadline`, got,
                  [S.UNAVAILABLE, S.DEADLINE_EXCEEDED]);
      check(`${who} Referrals/GetReferralStats returned within 2 s (${took.toFixed(3)} s)`, took < 2.0);
      // When the client's own deadline fires first, grpc-js names the address it dialed (the
      // gateway, which the caller knows); no other address may appear.
      const shown = String(got.details).split(GATEWAY).join('<gateway>');
      check(`${who} Referrals/GetReferralStats error names no internal address`,
            !shown.includes('127.0.0.1') && !shown.includes('ipv4:'), JSON.stringify(got.details));
    }
  }

  for (const step of [health, beforeRegistration, register, registerAgain, bakerySelf,
                      partnerNotAdmin, refusedCertificates, activateAndList, badCalls,
                      serviceDown]) {
    try {
      await step();
    } catch (e) { // a bug in a step must not hide the remaining steps
      check(`${step.name} ran to the end`, false, e && e.stack ? e.stack : String(e));
    }
  }
  admin.close();
  bakery.close();
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

// Nothing may hang: a scenario still running after 90 s is a failure.
const watchdog = setTimeout(() => {
  console.log('FAIL the scenario finished within 90 s: it hangs');
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exit(1);
}, 90000);
watchdog.unref();

main().then((rc) => {
  process.exitCode = rc;
}, (e) => {
  console.log(`FAIL the scenario ran: ${e && e.stack ? e.stack : e}`);
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exitCode = 1;
});
