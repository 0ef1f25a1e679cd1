-- wrk script: each request a path drawn at random from the file named by
-- $PATHS (one path a line), so that the server's lookups spread over the
-- whole data instead of one cached key.
local paths = {}
for line in io.lines(os.getenv("PATHS")) do paths[#paths + 1] = line end

function setup(thread)
  thread:set("seed", math.random(1, 1000000))
end

function init()
  math.randomseed(seed)
end

function request()
  return wrk.format("GET", paths[math.random(#paths)])
end
