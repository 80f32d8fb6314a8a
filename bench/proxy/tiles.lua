-- wrk script: cycles through the tile paths in a file (one "path[ etag]" per line), sending
-- an allowed Origin; with a third argument "etag", sends each tile's ETag as If-None-Match;
-- "close" asks for Connection: close (a new connection, and handshake, per request).
-- Usage: wrk -s tiles.lua URL -- PATHS_FILE PREFIX [etag|preflight|close]
local paths, etags = {}, {}
local prefix, mode = "", ""
local i = 0

function init(args)
  prefix = args[2] or ""
  mode = args[3] or ""
  for line in io.lines(args[1]) do
    local path, etag = line:match("^(%S+)%s*(.*)$")
    paths[#paths + 1] = path
    etags[#etags + 1] = etag
  end
  i = math.random(#paths)
end

function request()
  i = i % #paths + 1
  local headers = { ["Origin"] = "https://viewer.example.org" }
  if mode == "etag" then headers["If-None-Match"] = etags[i] end
  if mode == "close" then headers["Connection"] = "close" end
  if mode == "preflight" then
    headers["Access-Control-Request-Method"] = "GET"
    return wrk.format("OPTIONS", prefix .. paths[i], headers)
  end
  return wrk.format("GET", prefix .. paths[i], headers)
end
