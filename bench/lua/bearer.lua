-- GET with "Authorization: Bearer <token>", the tokens read from $BENCH_TOKENS_FILE (one a line) and used in
-- turn, so that requests come from many users and sessions.
local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS_FILE")) do
   if line ~= "" then tokens[#tokens + 1] = line end
end

if #tokens == 1 then
   wrk.headers["Authorization"] = "Bearer " .. tokens[1]
else
   local i = 0
   function request()
      i = i % #tokens + 1
      return wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. tokens[i] })
   end
end
