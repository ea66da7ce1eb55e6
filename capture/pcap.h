/* pcap.h - a capture as a pcap file, for Wireshark and tshark.
 *
 * The tap records calls, not packets: what each send() wrote and each
 * recv() returned. pcap_export turns that into the packets a network person
 * expects: per TCP connection a three-way handshake, then one segment per
 * send (a send above 65000 bytes becomes several), both directions, with
 * sequence and acknowledgement numbers that count the bytes, and a FIN
 * where a side closed; UDP sockets give one datagram per send. Where a
 * direction's sender was not tapped, its segments are the receiver's
 * recv() calls instead. A send longer than what the tap copied
 * (NIANBAO_TAP_CAP) is written cut short, its full length kept, as a
 * capture with a small snap length would be; past the segments that hold
 * its copied bytes, the rest is one last segment after a gap in the
 * sequence numbers, so the file grows with what the capture holds, never
 * with what an event claims. An event whose sizes no call can have (more
 * than DECODE_MAX_CALL bytes, more captured than moved) is an error: no
 * file is written.
 *
 * The link type is LINKTYPE_RAW (IPv4 and IPv6 packets, no Ethernet).
 * tools/nianbao.lua dissects the lab's frames in them.
 *
 * Nothing here prints or exits. */
#ifndef NIANBAO_PCAP_H
#define NIANBAO_PCAP_H

#include <stddef.h>

/* Reads the capture CAPTURE_PATH and writes OUT_PATH. Returns 0, or -1 with
 * ERR filled ("cannot write x.pcap: No space left on device"). */
int pcap_export(const char *capture_path, const char *out_path, char *err, size_t errlen);

#endif
