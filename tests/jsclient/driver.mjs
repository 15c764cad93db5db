// An independent Matrix client for the tests: matrix-js-sdk with its Rust crypto.
//
// One process is one device. It reads one JSON command per line on stdin,
// {"id": 1, "cmd": "send", ...}, and answers one JSON line on stdout,
// {"id": 1, "ok": true, "result": ...} or {"id": 1, "ok": false, "error": "..."}.
// Everything the SDK logs goes to stderr. JSCLIENT_MODULES names the
// node_modules folder made by scripts/jsclient.py.

import { createInterface } from "node:readline";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { format } from "node:util";

const toStderr = (...args) => process.stderr.write(format(...args) + "\n");
for (const level of ["log", "info", "debug", "warn", "error", "trace"]) console[level] = toStderr;

const modules = process.env.JSCLIENT_MODULES;
if (!modules) {
    toStderr("JSCLIENT_MODULES is not set: run scripts/jsclient.py install");
    process.exit(2);
}
const load = (path) => import(pathToFileURL(join(modules, path)).href);
await load("fake-indexeddb/auto/index.mjs");
const sdk = await load("matrix-js-sdk/lib/index.js");
const { decodeRecoveryKey } = await load("matrix-js-sdk/lib/crypto-api/recovery-key.js");
const verification = await load("matrix-js-sdk/lib/crypto-api/verification.js");
const { CryptoEvent } = await load("matrix-js-sdk/lib/crypto-api/CryptoEvent.js");
if (!process.env.JSCLIENT_DEBUG) sdk.logger?.setLevel?.("warn");

const SHIELD_COLOUR = { 0: "NONE", 1: "GREY", 2: "RED" };
const SHIELD_REASON = {
    0: "UNKNOWN",
    1: "UNVERIFIED_IDENTITY",
    2: "UNSIGNED_DEVICE",
    3: "UNKNOWN_DEVICE",
    4: "AUTHENTICITY_NOT_GUARANTEED",
    5: "MISMATCHED_SENDER_KEY",
    6: "SENT_IN_CLEAR",
    7: "VERIFICATION_VIOLATION",
};

let client = null;
let secretKey = null; // the secret-storage key, set by commands that need it
const incoming = []; // verification requests received, oldest first
const requests = new Map(); // id -> VerificationRequest
let nextRequest = 1;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what, timeoutMs, probe) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const value = await probe();
        if (value !== undefined && value !== null && value !== false) return value;
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
        await sleep(100);
    }
}

function crypto() {
    if (!client) throw new Error("no client: send 'start' first");
    return client.getCrypto();
}

async function describe(event) {
    const content = event.getContent();
    const info = event.isEncrypted() ? await crypto().getEncryptionInfoForEvent(event) : null;
    return {
        event_id: event.getId(),
        sender: event.getSender(),
        type: event.getType(),
        encrypted: event.isEncrypted(),
        undecryptable: event.isDecryptionFailure(),
        failure: event.decryptionFailureReason ?? null,
        body: typeof content.body === "string" ? content.body : null,
        content,
        sender_device: event.getWireContent().device_id ?? null,
        shield: info
            ? {
                  colour: SHIELD_COLOUR[info.shieldColour] ?? String(info.shieldColour),
                  reason: info.shieldReason === null ? null : SHIELD_REASON[info.shieldReason] ?? String(info.shieldReason),
              }
            : null,
    };
}

function matches(event, args) {
    if (args.event_id && event.getId() !== args.event_id) return false;
    if (args.sender && event.getSender() !== args.sender) return false;
    if (args.type && event.getType() !== args.type) return false;
    if (args.body !== undefined && event.getContent().body !== args.body) return false;
    return true;
}

async function ready(event) {
    // The Rust crypto decrypts in the background; wait until it has tried.
    if (event.isEncrypted()) await client.decryptEventIfNeeded(event);
    return event;
}

function authFor(password) {
    return async (makeRequest) => {
        await makeRequest({
            type: "m.login.password",
            identifier: { type: "m.id.user", user: client.getUserId() },
            password,
        });
    };
}

const commands = {
    async start(args) {
        if (client) throw new Error("already started");
        client = sdk.createClient({
            baseUrl: args.homeserver,
            userId: args.user_id,
            accessToken: args.access_token,
            deviceId: args.device_id,
            cryptoCallbacks: {
                getSecretStorageKey: async ({ keys }) => {
                    if (!secretKey) return null;
                    const keyId = Object.keys(keys)[0];
                    return [keyId, secretKey];
                },
            },
        });
        await client.initRustCrypto();
        client.on(CryptoEvent.VerificationRequestReceived, (request) => incoming.push(request));
        const prepared = new Promise((resolve, reject) => {
            client.on(sdk.ClientEvent.Sync, (state, _prev, data) => {
                if (state === "PREPARED" || state === "SYNCING") resolve();
                if (state === "ERROR") reject(new Error(`sync failed: ${data?.error?.message ?? "unknown"}`));
            });
        });
        await client.startClient({ initialSyncLimit: 20 });
        await prepared;
        const keys = await crypto().getOwnDeviceKeys();
        return { device_id: client.getDeviceId(), ed25519: keys.ed25519, curve25519: keys.curve25519 };
    },

    async bootstrap_cross_signing(args) {
        // Our own published identity first: keys found in secret storage are imported
        // only if they match it.
        await crypto().userHasCrossSigningKeys(client.getUserId(), true);
        await crypto().bootstrapCrossSigning({ authUploadDeviceSigningKeys: authFor(args.password) });
        return { ready: await crypto().isCrossSigningReady() };
    },

    async setup_recovery(args) {
        // What Element's "Set up recovery" does: cross-signing, secret storage, key backup.
        const generated = await crypto().createRecoveryKeyFromPassphrase();
        secretKey = generated.privateKey;
        await crypto().bootstrapCrossSigning({ authUploadDeviceSigningKeys: authFor(args.password) });
        await crypto().bootstrapSecretStorage({
            createSecretStorageKey: async () => generated,
            setupNewSecretStorage: true,
            setupNewKeyBackup: true,
        });
        const master = await crypto().getCrossSigningKeyId();
        return { recovery_key: generated.encodedPrivateKey, master };
    },

    async create_room(args) {
        const initial_state = args.encrypted
            ? [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }]
            : [];
        const { room_id } = await client.createRoom({ name: args.name, invite: args.invite ?? [], initial_state });
        await until(`room ${room_id} in the sync`, 15000, () => client.getRoom(room_id));
        return { room_id };
    },

    async join(args) {
        await until(`an invite to ${args.room_id}`, args.timeout_ms ?? 15000, () => client.getRoom(args.room_id));
        await client.joinRoom(args.room_id);
        await until(`our join of ${args.room_id}`, 15000, () => client.getRoom(args.room_id)?.getMyMembership() === "join");
        return {};
    },

    async wait_members(args) {
        // Until every user given has joined: Rust crypto only shares keys with joined members.
        await until(`${args.users} in ${args.room_id}`, args.timeout_ms ?? 15000, () => {
            const room = client.getRoom(args.room_id);
            return room && args.users.every((user) => room.getMember(user)?.membership === "join");
        });
        return {};
    },

    async send(args) {
        const content = args.content ?? { msgtype: "m.text", body: args.body };
        const { event_id } = await client.sendMessage(args.room_id, content);
        return { event_id };
    },

    async wait_event(args) {
        // The newest matching event of the live timeline, decrypted as far as possible.
        const event = await until(`a matching event in ${args.room_id}`, args.timeout_ms ?? 15000, async () => {
            const room = client.getRoom(args.room_id);
            const events = room ? room.getLiveTimeline().getEvents() : [];
            for (const event of events.slice().reverse()) {
                await ready(event);
                if (matches(event, args)) return event;
            }
            return null;
        });
        return await describe(event);
    },

    async history(args) {
        // What /messages holds, newest first, decrypted by this client.
        const response = await client.createMessagesRequest(args.room_id, null, args.limit ?? 50, sdk.Direction.Backward);
        const mapper = client.getEventMapper();
        const events = [];
        for (const raw of response.chunk) {
            const event = await ready(mapper(raw));
            if (matches(event, args)) events.push(await describe(event));
        }
        return events;
    },

    async device_status(args) {
        if (args.refresh) await crypto().getUserDeviceInfo([args.user_id], true);
        const status = await crypto().getDeviceVerificationStatus(args.user_id, args.device_id);
        if (!status) return null;
        return {
            signed_by_owner: status.signedByOwner,
            cross_signing_verified: status.crossSigningVerified,
            locally_verified: status.localVerified,
            verified: status.isVerified(),
        };
    },

    async user_status(args) {
        const has = await crypto().userHasCrossSigningKeys(args.user_id, true);
        const status = await crypto().getUserVerificationStatus(args.user_id);
        return {
            has_cross_signing_keys: has,
            cross_signing_verified: status.isCrossSigningVerified(),
            was_cross_signing_verified: status.wasCrossSigningVerified(),
            needs_user_approval: status.needsUserApproval,
            verified: status.isVerified(),
        };
    },

    async user_devices(args) {
        const map = await crypto().getUserDeviceInfo([args.user_id], true);
        const devices = map.get(args.user_id) ?? new Map();
        return Object.fromEntries([...devices].map(([id, device]) => [id, device.getFingerprint()]));
    },

    async set_device_verified(args) {
        // Trust one device locally, as a user does after comparing its fingerprint.
        await crypto().setDeviceVerified(args.user_id, args.device_id, args.verified ?? true);
        return {};
    },

    async send_only_to_verified(args) {
        // Element's "never send encrypted messages to unverified sessions".
        crypto().globalBlacklistUnverifiedDevices = args.value ?? true;
        return {};
    },

    async keys_query(args) {
        // The raw answer of /keys/query, to compare cross-signing keys over time.
        return await client.http.authedRequest(sdk.Method.Post, "/keys/query", undefined, {
            device_keys: Object.fromEntries(args.user_ids.map((user) => [user, []])),
        });
    },

    async secret_storage(args) {
        // Read our account's secret storage with a recovery key, as Element would.
        secretKey = decodeRecoveryKey(args.recovery_key);
        const keyId = await client.secretStorage.getDefaultKeyId();
        if (!keyId) return { default_key_id: null };
        const [, description] = (await client.secretStorage.getKey(keyId)) ?? [];
        const key_valid = description ? await client.secretStorage.checkKey(secretKey, description) : false;
        const secrets = {};
        for (const name of args.names ?? []) {
            try {
                const value = await client.secretStorage.get(name);
                secrets[name] = value === undefined ? null : { length: value.length };
            } catch (error) {
                secrets[name] = { error: String(error?.message ?? error) };
            }
        }
        return { default_key_id: keyId, key_valid, secrets };
    },

    async backup_info() {
        const info = await crypto().getKeyBackupInfo();
        if (!info) return null;
        const trust = await crypto().isKeyBackupTrusted(info);
        return {
            version: info.version,
            algorithm: info.algorithm,
            count: info.count ?? null,
            trusted: trust.trusted,
            matches_decryption_key: trust.matchesDecryptionKey,
        };
    },

    async restore_backup(args) {
        secretKey = decodeRecoveryKey(args.recovery_key);
        await crypto().loadSessionBackupPrivateKeyFromSecretStorage();
        const result = await crypto().restoreKeyBackup();
        return { total: result.total, imported: result.imported };
    },

    async verify_request(args) {
        // Start a to-device verification of another device.
        const request = await crypto().requestDeviceVerification(args.user_id, args.device_id);
        const id = nextRequest++;
        requests.set(id, request);
        return { request: id };
    },

    async verify_request_dm(args) {
        // Start an in-room verification of a user, as Element's "Verify" on a profile does.
        const request = await crypto().requestVerificationDM(args.user_id, args.room_id);
        const id = nextRequest++;
        requests.set(id, request);
        return { request: id };
    },

    async verify_incoming(args) {
        // Wait for a verification request from args.user_id and accept it.
        const request = await until(`a verification request from ${args.user_id}`, args.timeout_ms ?? 15000, () =>
            incoming.find((r) => r.otherUserId === args.user_id && !r.accepting && r.phase === verification.VerificationPhase.Requested),
        );
        await request.accept();
        const id = nextRequest++;
        requests.set(id, request);
        return { request: id, other_device: request.otherDeviceId ?? null };
    },

    async verify_sas(args) {
        // Run the SAS (emoji) flow of a request to the end: start it (or wait for the
        // other side to), compare, confirm or reject. Returns what was shown.
        const request = requests.get(args.request);
        if (!request) throw new Error(`no verification request ${args.request}`);
        const timeout = args.timeout_ms ?? 20000;
        let verifier;
        if (args.start) {
            await until("the other side to be ready", timeout, () => request.phase >= verification.VerificationPhase.Ready);
            verifier = await request.startVerification("m.sas.v1");
        } else {
            verifier = await until("the other side to start SAS", timeout, () => request.verifier);
        }
        let shown = null;
        const showed = new Promise((resolve) => {
            verifier.on(verification.VerifierEvent.ShowSas, (sas) => {
                shown = { emoji: sas.sas.emoji?.map(([, name]) => name) ?? null, decimal: sas.sas.decimal ?? null };
                resolve(sas);
            });
        });
        const done = verifier.verify();
        done.catch(() => {});
        const sas = await Promise.race([showed, sleep(timeout).then(() => null)]);
        if (!sas) throw new Error("no SAS was shown");
        if (args.confirm === false) sas.mismatch();
        else await sas.confirm();
        try {
            await Promise.race([done, sleep(timeout).then(() => Promise.reject(new Error("verification did not finish")))]);
            return { ...shown, done: true, phase: request.phase };
        } catch (error) {
            return { ...shown, done: false, phase: request.phase, error: String(error?.message ?? error) };
        }
    },

    async stop() {
        if (client) client.stopClient();
        setTimeout(() => process.exit(0), 10);
        return {};
    },
};

const lines = createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on("line", (line) => {
    // One command at a time, in order.
    queue = queue.then(async () => {
        let message;
        try {
            message = JSON.parse(line);
        } catch {
            process.stdout.write(JSON.stringify({ id: null, ok: false, error: "not JSON" }) + "\n");
            return;
        }
        const handler = commands[message.cmd];
        let reply;
        try {
            if (!handler) throw new Error(`unknown command ${message.cmd}`);
            reply = { id: message.id, ok: true, result: (await handler(message)) ?? null };
        } catch (error) {
            reply = { id: message.id, ok: false, error: String(error?.message ?? error) };
        }
        process.stdout.write(JSON.stringify(reply) + "\n");
    });
});
lines.on("close", () => {
    if (client) client.stopClient();
    process.exit(0);
});
process.stdout.write(JSON.stringify({ id: null, ok: true, result: "ready" }) + "\n");
