//! The queue's Lua scripts: the steps that must see the stream, its
//! group and its pending list at one instant (Redis runs a script
//! atomically). Each is loaded on first use and again after a restart
//! (`redis::Script` falls back from EVALSHA to EVAL).

use std::sync::LazyLock;

use redis::Script;

/// A function the other scripts share: the fields of this queue's group
/// from XINFO GROUPS, or nil when it has none.
const GROUP_INFO: &str = r"
local function group_info(stream, group)
  if redis.call('EXISTS', stream) == 0 then return nil end
  for _, entry in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local fields = {}
    for i = 1, #entry, 2 do fields[entry[i]] = entry[i + 1] end
    if fields['name'] == group then return fields end
  end
  return nil
end
";

/// Adds items unless the queue is shut down (then the error `SHUTDOWN`)
/// or gone (the error `GONE`: its stream is missing, because its job
/// ended or Redis lost its data; `create` and `open` always make the
/// stream, so a put never makes one, which would be left behind). The
/// checks and the adds are one step, so no item slips in after a
/// shutdown. KEYS: stream, shutdown flag. ARGV: the items.
pub(crate) static PUT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[2]) == 1 then
  return redis.error_reply('SHUTDOWN the queue is shut down')
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.error_reply('GONE the queue is gone')
end
local ids = {}
for i = 1, #ARGV do
  ids[i] = redis.call('XADD', KEYS[1], '*', 'item', ARGV[i])
end
return ids
",
    )
});

/// Renews (or gives up) the lease on entries this consumer holds, but
/// only those it still holds: an entry another consumer has taken over
/// is left alone, and returned, so its old owner can say it lost it.
/// XCLAIM with JUSTID resets the idle time without counting a delivery.
/// KEYS: stream. ARGV: group, consumer, idle time to set in ms (0 to
/// renew, the lease to give up), then the entry ids.
pub(crate) static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local lost = {}
for i = 4, #ARGV do
  local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if pending[1] and pending[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'IDLE', ARGV[3], 'JUSTID')
  else
    table.insert(lost, ARGV[i])
  end
end
return lost
",
    )
});

/// Moves an entry to the dead-letter stream and acknowledges it, in one
/// step. KEYS: stream, dead-letter stream. ARGV: group, entry id, the
/// item's raw text, deliveries, reason, consumer, the dead-letter
/// stream's approximate cap.
pub(crate) static BURY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], '*',
  'entry', ARGV[2], 'item', ARGV[3], 'deliveries', ARGV[4], 'reason', ARGV[5], 'consumer', ARGV[6])
return redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
",
    )
});

/// Deletes the entries no one needs any more: everything older than the
/// oldest pending entry, and older than the first entry the group has
/// not read. XACK does not delete, so without this a stream only grows.
/// KEYS: stream. ARGV: group. Returns how many entries went.
pub(crate) static TRIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"{GROUP_INFO}
local group = group_info(KEYS[1], ARGV[1])
if not group then return 0 end
local ms, seq = string.match(group['last-delivered-id'], '(%d+)-(%d+)')
-- The first id after the last one read: nothing at or after it is trimmed.
local threshold = ms .. '-' .. (tonumber(seq) + 1)
local pending = redis.call('XPENDING', KEYS[1], ARGV[1])
if pending[2] then threshold = pending[2] end
return redis.call('XTRIM', KEYS[1], 'MINID', threshold)
"
    ))
});

/// The queue's state: {entries not yet read by the group, entries read
/// and not yet acknowledged, the shutdown flag or false}. KEYS: stream,
/// shutdown flag. ARGV: group.
pub(crate) static STATUS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"{GROUP_INFO}
local flag = redis.call('GET', KEYS[2])
local group = group_info(KEYS[1], ARGV[1])
if not group then return {{0, 0, flag}} end
local unread = group['lag']
if not unread then
  -- Redis cannot say (entries were deleted): count them.
  unread = #redis.call('XRANGE', KEYS[1], '(' .. group['last-delivered-id'], '+')
end
return {{unread, group['pending'], flag}}
"
    ))
});

/// Takes or renews the producer lock: sets it to this holder, with the
/// lease, when it is free, already this holder's, or held by the one
/// holder that may be replaced (a process known to be gone; empty for
/// none). Returns {'', 0} when this holder has it, else {the holder, the
/// milliseconds left on its lease}. KEYS: lock. ARGV: holder, lease in
/// ms, replaceable holder.
pub(crate) static LOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] or (ARGV[3] ~= '' and holder == ARGV[3]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {'', 0}
end
return {holder, redis.call('PTTL', KEYS[1])}
",
    )
});

/// Lets the producer lock go, if this holder still has it. KEYS: lock.
/// ARGV: holder.
pub(crate) static UNLOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
",
    )
});

/// Puts back what a job needs that Redis lost (a restart without
/// persistence): its settings, its stream and its group. Returns 1 if
/// anything was missing. KEYS: stream, settings. ARGV: group, lease in
/// ms, max deliveries.
pub(crate) static RESTORE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"{GROUP_INFO}
local lost = 0
if redis.call('EXISTS', KEYS[2]) == 0 then
  lost = 1
  redis.call('HSET', KEYS[2], 'lease_ms', ARGV[2], 'max_deliveries', ARGV[3])
end
if not group_info(KEYS[1], ARGV[1]) then
  lost = 1
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
end
return lost
"
    ))
});

/// Ends a job for good: shuts it down, deletes its stream (entries and
/// group), and lets its other keys expire after a grace period, in which
/// a late worker still learns that the job is over. KEYS: stream,
/// shutdown flag, settings, dead letters. ARGV: grace in ms.
pub(crate) static FINISH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('SET', KEYS[2], 'graceful', 'NX')
redis.call('DEL', KEYS[1])
for i = 2, 4 do
  redis.call('PEXPIRE', KEYS[i], ARGV[1])
end
return 0
",
    )
});
