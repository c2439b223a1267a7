-- POST /auth/refresh, chaining single-use refresh tokens: every wrk connection needs a token family of its own
-- (a reused token ends its whole session). wrk cannot tell connections apart in Lua, so each thread keeps a
-- pool: request() takes a token out, response() puts the successor back. A connection has at most one request
-- in flight, so a pool that starts with one token per connection never hands out a token twice.
-- Tokens come from $BENCH_TOKENS_FILE; line i goes to thread i % $BENCH_THREADS. wrk calls request() once on
-- thread 0 to verify the script, so the file holds one token more than there are connections.

local thread_count = 0

function bench_setup(thread)
   thread:set("thread_index", thread_count)
   thread_count = thread_count + 1
end

pool = {}
lost = 0     -- responses that carried no successor (an error): that family is gone
starved = 0  -- requests sent with no token left (answered 401 by a correct server)

function init(args)
   local threads = tonumber(os.getenv("BENCH_THREADS"))
   local i = 0
   for line in io.lines(os.getenv("BENCH_TOKENS_FILE")) do
      if line ~= "" then
         if i % threads == thread_index then table.insert(pool, line) end
         i = i + 1
      end
   end
end

local headers = { ["Content-Type"] = "application/json" }

function request()
   local token = table.remove(pool)
   if token == nil then
      starved = starved + 1
      token = "exhausted"
   end
   return wrk.format("POST", nil, headers, '{"refresh_token":"' .. token .. '"}')
end

function response(status, hdrs, body)
   local token = status == 200 and body:match('"refresh_token"%s*:%s*"([^"]+)"')
   if token then
      table.insert(pool, token)
   else
      lost = lost + 1
   end
end

function bench_extra()
   local l, s = 0, 0
   for _, t in ipairs(bench_threads) do
      l = l + t:get("lost")
      s = s + t:get("starved")
   end
   return string.format('"refresh":{"lost":%d,"starved":%d}', l, s)
end
