-- wrk script: POST /api/v1/events, one event per request in structured mode, each with an id of
-- its own (so none is a duplicate): "<run>-<thread>-<n>", <run> from the script's first argument
-- (`wrk ... -s post_event.lua URL -- RUN`), so that two runs against one ledger never collide.
-- The event is the ~450-byte io.ossa.agent.published of ../shared/anchors/pg_append_one.pgb (the
-- PostgreSQL baseline's row), its subject spread over 1,000 streams as there.
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

local prefix
local sent = 0
local headers = { ["Content-Type"] = "application/cloudevents+json" }
local template = '{"specversion":"1.0","id":"%s","source":"spiffe://acme.com/registry",'
  .. '"type":"io.ossa.agent.published","subject":"acme-corp/agent-%d@2.4.1",'
  .. '"time":"2026-02-07T14:30:00Z","datacontenttype":"application/json",'
  .. '"data":{"agent":{"name":"agent-1","namespace":"acme-corp","version":"2.4.1",'
  .. '"digest":"sha256:a1b2c3d4e5f6789a1b2c3d4e5f6789a1b2c3d4e5f6789",'
  .. '"capabilities":["financial-analysis","risk-assessment"],"trustTier":"verified"}}}'

function init(args)
  prefix = string.format("%s-%d-", args[1] or "run", thread_number)
end

function request()
  sent = sent + 1
  return wrk.format("POST", nil, headers, string.format(template, prefix .. sent, sent % 1000))
end
