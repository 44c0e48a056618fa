//! The server-side scripts: each write is one script, so Redis runs it whole or not at
//! all, with no other command in between; it bumps the version exactly once and appends
//! the event to the namespace's stream in the same step, so the stream's order is the
//! order of the writes. Scripts are sent by hash (EVALSHA) and loaded again when the
//! server has lost them (a restart).
//!
//! A write carries a token: a retry of a write whose reply was lost (the connection broke)
//! finds the reply of the first attempt under that token and returns it instead of
//! writing twice.

use std::sync::LazyLock;

use redis::Script;

/// Shared opening of the write scripts: replay a write already made under this token.
/// `ARGV[1]` var prefix, `ARGV[2]` stream MAXLEN, `ARGV[3]` token key.
const REPLAY: &str = r#"
local done = redis.call('GET', ARGV[3])
if done then return cjson.decode(done) end
local function finish(reply)
  redis.call('SET', ARGV[3], cjson.encode(reply), 'PX', 300000)
  return reply
end
local function resolve(key)
  if string.find(key, '-', 1, true) then
    return redis.call('HGET', KEYS[1], key)
  end
  return key
end
local function merge(md, extra)
  if extra == '' then return md end
  local merged = cjson.decode(md)
  for k, v in pairs(cjson.decode(extra)) do merged[k] = v end
  local out = cjson.encode(merged)
  if out == '[]' then return '{}' end
  return out
end
"#;

/// Writes one variable. KEYS: ids, events. ARGV after the shared three: key, expected id,
/// value, expected version (or ""), metadata to merge (or ""), source, now.
/// Replies `{OK, version, metadata}`, `{NOT_FOUND}`, `{STALE, id}` (the name now belongs
/// to another definition) or `{CONFLICT, version, value}`.
const SET: &str = r#"
local name = resolve(ARGV[4])
if not name then return {'NOT_FOUND'} end
local vk = ARGV[1] .. name
local f = redis.call('HMGET', vk, 'id', 'version', 'value', 'md')
if not f[1] then return {'NOT_FOUND'} end
if f[1] ~= ARGV[5] then return {'STALE', f[1]} end
local version = tonumber(f[2])
if ARGV[7] ~= '' and tonumber(ARGV[7]) ~= version then
  return {'CONFLICT', version, f[3]}
end
local md = merge(f[4], ARGV[8])
version = version + 1
redis.call('HSET', vk, 'value', ARGV[6], 'version', version, 'md', md, 'updated', ARGV[10], 'src', ARGV[9])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'k', 'w', 'n', name, 'v', version,
  'val', ARGV[6], 'old', f[3], 'src', ARGV[9], 'md', md, 't', ARGV[10])
return finish({'OK', version, md})
"#;

/// Writes several variables, all or nothing. KEYS: ids, events. ARGV after the shared
/// three: metadata to merge (or ""), source, now, count, then (key, expected id, value) per
/// variable. Every key is checked before anything is written. Replies
/// `{OK, {name, version, metadata}…}`, `{NOT_FOUND, i}` or `{STALE, i}` (0-based).
const UPDATE_MANY: &str = r#"
local n = tonumber(ARGV[7])
local names = {}
for i = 0, n - 1 do
  local b = 7 + i * 3
  local name = resolve(ARGV[b + 1])
  if not name then return {'NOT_FOUND', i} end
  local id = redis.call('HGET', ARGV[1] .. name, 'id')
  if not id then return {'NOT_FOUND', i} end
  if id ~= ARGV[b + 2] then return {'STALE', i} end
  names[i + 1] = name
end
local written = {}
for i = 0, n - 1 do
  local b = 7 + i * 3
  local name = names[i + 1]
  local vk = ARGV[1] .. name
  local f = redis.call('HMGET', vk, 'version', 'value', 'md')
  local version = tonumber(f[1]) + 1
  local md = merge(f[3], ARGV[4])
  redis.call('HSET', vk, 'value', ARGV[b + 3], 'version', version, 'md', md, 'updated', ARGV[6], 'src', ARGV[5])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'k', 'w', 'n', name, 'v', version,
    'val', ARGV[b + 3], 'old', f[2], 'src', ARGV[5], 'md', md, 't', ARGV[6])
  written[i + 1] = {name, version, md}
end
return finish({'OK', written})
"#;

/// Defines (or imports) variables, all or nothing. KEYS: ids, events, names. ARGV after
/// the shared three: count, then 12 fields per variable (see `codec::definition_args`).
/// A name already defined is reported with its stored definition and nothing is written:
/// `{EXISTS, {i, id, type, constraints}…}`; an id already taken: `{ID_TAKEN, i}`.
/// Otherwise `{OK, {seq…}}`.
const DEFINE: &str = r#"
local n = tonumber(ARGV[4])
local existing = {}
for i = 0, n - 1 do
  local b = 4 + i * 12
  local vk = ARGV[1] .. ARGV[b + 1]
  local f = redis.call('HMGET', vk, 'id', 'type', 'cons')
  if f[1] then
    existing[#existing + 1] = {i, f[1], f[2], f[3]}
  elseif redis.call('HEXISTS', KEYS[1], ARGV[b + 2]) == 1 then
    return {'ID_TAKEN', i}
  end
end
if #existing > 0 then return {'EXISTS', existing} end
local seqs = {}
for i = 0, n - 1 do
  local b = 4 + i * 12
  local name = ARGV[b + 1]
  local vk = ARGV[1] .. name
  local seq = redis.call('RPUSH', KEYS[3], name)
  redis.call('HSET', vk, 'name', name, 'id', ARGV[b + 2], 'type', ARGV[b + 3], 'cons', ARGV[b + 4],
    'md', ARGV[b + 7], 'value', ARGV[b + 8], 'version', ARGV[b + 9], 'created', ARGV[b + 10],
    'updated', ARGV[b + 11], 'src', ARGV[b + 12], 'seq', seq)
  if ARGV[b + 5] == '1' then redis.call('HSET', vk, 'desc', ARGV[b + 6]) end
  redis.call('HSET', KEYS[1], ARGV[b + 2], name)
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'k', 'd', 'n', name, 'v', ARGV[b + 9])
  seqs[i + 1] = seq
end
return finish({'OK', seqs})
"#;

/// Reads whole variables by name or id, in one consistent step. KEYS: ids. ARGV: var
/// prefix, then the keys. Replies one HGETALL (empty when unknown) per key.
const READ: &str = r#"
local out = {}
for i = 2, #ARGV do
  local name = ARGV[i]
  if string.find(name, '-', 1, true) then name = redis.call('HGET', KEYS[1], name) end
  if name then out[i - 1] = redis.call('HGETALL', ARGV[1] .. name) else out[i - 1] = {} end
end
return out
"#;

/// Every variable, with the id of the stream's last event: a snapshot from which reading
/// the stream on misses nothing and repeats nothing. KEYS: names, events. ARGV: var
/// prefix. Replies `{last event id, {HGETALL…}}`.
const LOAD: &str = r#"
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local last_id = '0-0'
if #last > 0 then last_id = last[1][1] end
local names = redis.call('LRANGE', KEYS[1], 0, -1)
local out = {}
for i, name in ipairs(names) do out[i] = redis.call('HGETALL', ARGV[1] .. name) end
return {last_id, out}
"#;

/// The types of the namespace's keys and its stored format. KEYS: meta, names, ids,
/// events. Replies `{type…, format or false}`.
const SHAPE: &str = r#"
local out = {}
for i = 1, 4 do out[i] = redis.call('TYPE', KEYS[i])['ok'] end
if out[1] == 'hash' then out[5] = redis.call('HGET', KEYS[1], 'format') end
return out
"#;

fn write_script(body: &str) -> Script {
    Script::new(&format!("{REPLAY}{body}"))
}

pub(crate) static SET_SCRIPT: LazyLock<Script> = LazyLock::new(|| write_script(SET));
pub(crate) static UPDATE_MANY_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| write_script(UPDATE_MANY));
pub(crate) static DEFINE_SCRIPT: LazyLock<Script> = LazyLock::new(|| write_script(DEFINE));
pub(crate) static READ_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(READ));
pub(crate) static LOAD_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(LOAD));
pub(crate) static SHAPE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(SHAPE));
