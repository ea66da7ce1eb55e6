-- nianbao.lua - Wireshark / tshark dissector for the lab's framing.
--
--   nianbao3  stage 3: a reply is a 4-byte signed little-endian length, then
--             that many bytes; a request is the command's bytes (unframed)
--   nianbao4  stage 4: a reply is a 4-byte signed little-endian header
--             length, a JSON header (file_name, total_size, md5,
--             stdout_size, exit_code), then total_size bytes of body;
--             requests as in stage 3
--   nianbao5  stage 5: every message, both ways, is a 4-byte big-endian
--             header length, a JSON header with "op" and "size", then
--             size bytes of body (stage5_file_transfer/PROTOCOL.md)
--
-- Load it with
--   tshark -X lua_script:tools/nianbao.lua -r run.pcap
--   wireshark -X lua_script:tools/nianbao.lua run.pcap
-- (or copy it to ~/.local/lib/wireshark/plugins/). The document's ports are
-- registered (8083 stage 3, 8085 stage 4, 8086 stage 5); for another port,
-- Decode As: tshark ... -d tcp.port==40123,nianbao3
-- A pcap of a lab capture: nianbao-view --replay run.nbcap --pcap run.pcap
--
-- A message split over several TCP segments is reassembled; several
-- messages in one segment are each shown. A length that cannot be right is
-- flagged ("is the peer speaking another protocol?") and the rest of the
-- segment is left undecoded: there is no way to find the next message.

local MAX_LEN = 268435456          -- 256 MiB: the lab's clients' limit
local MAX_HEADER = 65536

-- The server's end of the conversation: the port that chose this dissector.
local function from_server(pinfo)
    return pinfo.match_uint ~= nil and pinfo.src_port == pinfo.match_uint
end

-- Four bytes as hex and, when they are text, as text.
local function describe4(tvb, offset)
    local hex, text, printable = {}, {}, true
    for i = 0, 3 do
        local b = tvb(offset + i, 1):uint()
        hex[#hex + 1] = string.format("%02x", b)
        if b >= 0x20 and b < 0x7f then
            text[#text + 1] = string.char(b)
        elseif b == 0x0a then
            text[#text + 1] = "\\n"
        else
            printable = false
        end
    end
    local s = "bytes " .. table.concat(hex, " ")
    if printable then s = s .. ' "' .. table.concat(text) .. '"' end
    return s
end

-- A number field of a JSON header, or nil (a display helper, not a parser).
local function json_number(text, name)
    local v = text:match('"' .. name .. '"%s*:%s*(-?%d+)')
    return v and tonumber(v) or nil
end

local function json_string(text, name)
    return text:match('"' .. name .. '"%s*:%s*"([^"]*)"')
end

local json = Dissector.get("json")

-- What the Info column will say about this segment: the JSON dissector,
-- called for a header's tree, writes its own columns, so ours are set last.
local info = {}

local function say(text) info[#info + 1] = text end

local function set_columns(pinfo, name)
    pinfo.cols.protocol:set(name)
    pinfo.cols.info:set(table.concat(info, "; "))
    info = {}
end

-- The raw request of stages 3 and 4: whatever one segment carries.
local function add_request(proto, field, tvb, pinfo, tree)
    local t = tree:add(proto, tvb(), "request (unframed: one recv is one command)")
    t:add(field, tvb())
    say("request: " .. tvb():string():gsub("[%c]", "."))
    return tvb:len()
end

-- Runs DISSECT_ONE(tvb, pinfo, tree, offset) -> consumed (> 0), -more (< 0),
-- 0 (cannot go on) over every message in TVB, asking TCP for more bytes
-- when a message goes on in the next segments.
local function dissect_messages(tvb, pinfo, tree, dissect_one)
    local offset, len = 0, tvb:len()
    while offset < len do
        local result = dissect_one(tvb, pinfo, tree, offset)
        if result > 0 then
            offset = offset + result
        elseif result == 0 then
            return len
        else
            pinfo.desegment_offset = offset
            pinfo.desegment_len = -result
            return len
        end
    end
    return offset
end

-- How many more bytes a message needs, as dissect_one returns it.
local function need(have, want)
    if have >= want then return nil end
    return -(want - have)
end

-- ---- stage 3 ------------------------------------------------------------------

local nb3 = Proto("nianbao3", "nianbao stage 3 (length, then the reply)")
local f3 = {
    length = ProtoField.int32("nianbao3.length", "Reply length"),
    body = ProtoField.bytes("nianbao3.body", "Reply"),
    request = ProtoField.string("nianbao3.request", "Request"),
}
nb3.fields = { f3.length, f3.body, f3.request }
local e3_bad = ProtoExpert.new("nianbao3.bad_length", "Length out of range",
                               expert.group.MALFORMED, expert.severity.ERROR)
nb3.experts = { e3_bad }

local function dissect3_reply(tvb, pinfo, tree, offset)
    local avail = tvb:len() - offset
    if avail < 4 then return -DESEGMENT_ONE_MORE_SEGMENT end
    local length = tvb(offset, 4):le_int()
    if length < 0 or length > MAX_LEN then
        local t = tree:add(nb3, tvb(offset), "nianbao stage 3: not a reply")
        t:add_le(f3.length, tvb(offset, 4))
        t:add_proto_expert_info(e3_bad, string.format(
            "reply length %d (%s) is out of range 0..%d: is the peer speaking another protocol?",
            length, describe4(tvb, offset), MAX_LEN))
        say("not a reply: bad length")
        return 0
    end
    local more = need(avail, 4 + length)
    if more then return more end
    local t = tree:add(nb3, tvb(offset, 4 + length),
                       string.format("nianbao stage 3 reply: length %d", length))
    t:add_le(f3.length, tvb(offset, 4))
    if length > 0 then t:add(f3.body, tvb(offset + 4, length)) end
    say(string.format("reply: length %d", length))
    return 4 + length
end

function nb3.dissector(tvb, pinfo, tree)
    info = {}
    local used
    if from_server(pinfo) then
        used = dissect_messages(tvb, pinfo, tree, dissect3_reply)
    else
        used = add_request(nb3, f3.request, tvb, pinfo, tree)
    end
    set_columns(pinfo, "NIANBAO3")
    return used
end

-- ---- stage 4 ------------------------------------------------------------------

local nb4 = Proto("nianbao4", "nianbao stage 4 (header length, JSON header, body)")
local f4 = {
    header_length = ProtoField.int32("nianbao4.header_length", "Header length"),
    header = ProtoField.string("nianbao4.header", "Header"),
    file_name = ProtoField.string("nianbao4.file_name", "file_name"),
    total_size = ProtoField.uint32("nianbao4.total_size", "total_size"),
    md5 = ProtoField.string("nianbao4.md5", "md5"),
    stdout_size = ProtoField.uint32("nianbao4.stdout_size", "stdout_size"),
    exit_code = ProtoField.int32("nianbao4.exit_code", "exit_code"),
    body = ProtoField.bytes("nianbao4.body", "Body"),
    request = ProtoField.string("nianbao4.request", "Request"),
}
nb4.fields = { f4.header_length, f4.header, f4.file_name, f4.total_size, f4.md5,
               f4.stdout_size, f4.exit_code, f4.body, f4.request }
local e4_bad = ProtoExpert.new("nianbao4.bad_length", "Length out of range",
                               expert.group.MALFORMED, expert.severity.ERROR)
nb4.experts = { e4_bad }

local function dissect4_reply(tvb, pinfo, tree, offset)
    local avail = tvb:len() - offset
    if avail < 4 then return -DESEGMENT_ONE_MORE_SEGMENT end
    local hlen = tvb(offset, 4):le_int()
    if hlen <= 0 or hlen > MAX_HEADER then
        local t = tree:add(nb4, tvb(offset), "nianbao stage 4: not a reply")
        t:add_le(f4.header_length, tvb(offset, 4))
        t:add_proto_expert_info(e4_bad, string.format(
            "header length %d (%s) is out of range 1..%d: is the peer speaking another protocol?",
            hlen, describe4(tvb, offset), MAX_HEADER))
        say("not a reply: bad header length")
        return 0
    end
    local more = need(avail, 4 + hlen)
    if more then return more end
    local text = tvb(offset + 4, hlen):string()
    local total = json_number(text, "total_size")
    if total == nil or total < 0 or total > MAX_LEN then
        local t = tree:add(nb4, tvb(offset), "nianbao stage 4: a header without a usable total_size")
        t:add_le(f4.header_length, tvb(offset, 4))
        t:add(f4.header, tvb(offset + 4, hlen))
        t:add_proto_expert_info(e4_bad, "total_size is missing or out of range 0.." .. MAX_LEN)
        return 0
    end
    more = need(avail, 4 + hlen + total)
    if more then return more end
    local t = tree:add(nb4, tvb(offset, 4 + hlen + total),
                       string.format("nianbao stage 4 reply: header %d bytes, body %d bytes",
                                     hlen, total))
    t:add_le(f4.header_length, tvb(offset, 4))
    local h = t:add(f4.header, tvb(offset + 4, hlen))
    if json then json:call(tvb(offset + 4, hlen):tvb(), pinfo, h) end
    h:add(f4.total_size, tvb(offset + 4, hlen), total)
    local v = json_string(text, "file_name")
    if v then h:add(f4.file_name, tvb(offset + 4, hlen), v) end
    v = json_string(text, "md5")
    if v then h:add(f4.md5, tvb(offset + 4, hlen), v) end
    v = json_number(text, "stdout_size")
    if v then h:add(f4.stdout_size, tvb(offset + 4, hlen), v) end
    v = json_number(text, "exit_code")
    if v then h:add(f4.exit_code, tvb(offset + 4, hlen), v) end
    if total > 0 then t:add(f4.body, tvb(offset + 4 + hlen, total)) end
    say(string.format("reply: total_size %d", total))
    return 4 + hlen + total
end

function nb4.dissector(tvb, pinfo, tree)
    info = {}
    local used
    if from_server(pinfo) then
        used = dissect_messages(tvb, pinfo, tree, dissect4_reply)
    else
        used = add_request(nb4, f4.request, tvb, pinfo, tree)
    end
    set_columns(pinfo, "NIANBAO4")
    return used
end

-- ---- stage 5 ------------------------------------------------------------------

local nb5 = Proto("nianbao5", "nianbao stage 5 (framed both ways)")
local f5 = {
    header_length = ProtoField.uint32("nianbao5.header_length", "Header length"),
    header = ProtoField.string("nianbao5.header", "Header"),
    op = ProtoField.string("nianbao5.op", "op"),
    size = ProtoField.uint64("nianbao5.size", "size"),
    name = ProtoField.string("nianbao5.name", "name"),
    code = ProtoField.string("nianbao5.code", "code"),
    body = ProtoField.bytes("nianbao5.body", "Body"),
    direction = ProtoField.string("nianbao5.direction", "Direction"),
}
nb5.fields = { f5.header_length, f5.header, f5.op, f5.size, f5.name, f5.code, f5.body,
               f5.direction }
local e5_bad = ProtoExpert.new("nianbao5.bad_length", "Length out of range",
                               expert.group.MALFORMED, expert.severity.ERROR)
nb5.experts = { e5_bad }

local function dissect5_message(tvb, pinfo, tree, offset)
    local avail = tvb:len() - offset
    if avail < 4 then return -DESEGMENT_ONE_MORE_SEGMENT end
    local hlen = tvb(offset, 4):uint()
    if hlen == 0 or hlen > MAX_HEADER then
        local t = tree:add(nb5, tvb(offset), "nianbao stage 5: not a frame")
        t:add(f5.header_length, tvb(offset, 4))
        t:add_proto_expert_info(e5_bad, string.format(
            "header length %d (%s) is out of range 1..%d: is the peer speaking another protocol?",
            hlen, describe4(tvb, offset), MAX_HEADER))
        say("not a frame: bad header length")
        return 0
    end
    local more = need(avail, 4 + hlen)
    if more then return more end
    local text = tvb(offset + 4, hlen):string()
    local size = json_number(text, "size")
    if size == nil or size < 0 or size > MAX_LEN then
        local t = tree:add(nb5, tvb(offset), "nianbao stage 5: a header without a usable size")
        t:add(f5.header_length, tvb(offset, 4))
        t:add(f5.header, tvb(offset + 4, hlen))
        t:add_proto_expert_info(e5_bad, "size is missing or beyond what this dissector reassembles")
        return 0
    end
    more = need(avail, 4 + hlen + size)
    if more then return more end
    local op = json_string(text, "op") or "?"
    local t = tree:add(nb5, tvb(offset, 4 + hlen + size),
                       string.format("nianbao stage 5 %s: %s, body %d bytes",
                                     from_server(pinfo) and "reply" or "request", op, size))
    t:add(f5.direction, from_server(pinfo) and "server to client" or "client to server")
    t:add(f5.header_length, tvb(offset, 4))
    local h = t:add(f5.header, tvb(offset + 4, hlen))
    if json then json:call(tvb(offset + 4, hlen):tvb(), pinfo, h) end
    h:add(f5.op, tvb(offset + 4, hlen), op)
    h:add(f5.size, tvb(offset + 4, hlen), UInt64.new(size % 4294967296, math.floor(size / 4294967296)))
    local v = json_string(text, "name")
    if v then h:add(f5.name, tvb(offset + 4, hlen), v) end
    v = json_string(text, "code")
    if v then h:add(f5.code, tvb(offset + 4, hlen), v) end
    if size > 0 then t:add(f5.body, tvb(offset + 4 + hlen, size)) end
    say(string.format("%s %s, size %d", from_server(pinfo) and "reply" or "request", op, size))
    return 4 + hlen + size
end

function nb5.dissector(tvb, pinfo, tree)
    info = {}
    local used = dissect_messages(tvb, pinfo, tree, dissect5_message)
    set_columns(pinfo, "NIANBAO5")
    return used
end

-- ---- registration -----------------------------------------------------------------

local tcp_port = DissectorTable.get("tcp.port")
tcp_port:add(8083, nb3)
tcp_port:add(8085, nb4)
tcp_port:add(8086, nb5)
for _, p in ipairs({ nb3, nb4, nb5 }) do tcp_port:add_for_decode_as(p) end
