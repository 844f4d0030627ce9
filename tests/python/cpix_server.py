#!/usr/bin/env python3
"""A SPEKE v2 key server for the tests (CPIX 2.3 over HTTP POST), written from the CPIX schema.

Each answer fills every requested <cpix:ContentKey> with a key derived from its key id
(sha256(b"streampack-test-key" + kid)[:16]), so a test can check which keys the origin used.
The path picks the behaviour:
  /ok                the answer (X-Speke-Version and X-Speke-User-Agent headers, as SPEKE asks)
  /500               HTTP 500
  /slow              the answer after 8 s (longer than the origin waits)
  /malformed         a body that is not XML
  /wrong-content-id  a valid answer for another content id
Prints "port N" on its first line, then one line per request: path, contentId, kid count,
X-Speke-Version.
"""
import base64
import hashlib
import http.server
import sys
import time
import uuid
import xml.etree.ElementTree as ET

CPIX = "urn:dashif:org:cpix"
PSKC = "urn:ietf:params:xml:ns:keyprov:pskc"
ET.register_namespace("cpix", CPIX)
ET.register_namespace("pskc", PSKC)


WIDEVINE = "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"
PLAYREADY = "9a04f079-9840-4286-ab92-e65be0885f95"
FAIRPLAY = "94ce86fb-07ff-4f43-adb8-93d2fa968ca2"


def pssh_box(system, data):
    """A version 0 pssh box of DRM system `system` carrying `data`."""
    body = b"\0\0\0\0" + uuid.UUID(system).bytes + len(data).to_bytes(4, "big") + data
    return (8 + len(body)).to_bytes(4, "big") + b"pssh" + body


def key_for(kid_uuid):
    kid = uuid.UUID(kid_uuid).bytes
    return hashlib.sha256(b"streampack-test-key" + kid).digest()[:16]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, ctype="application/xml"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("X-Speke-Version", "2.0")
        self.send_header("X-Speke-User-Agent", "streampack-tests-cpix/1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        try:
            root = ET.fromstring(body)
        except ET.ParseError as e:
            self.reply(422, f"not CPIX: {e}", "text/plain")
            return
        content_id = root.get("contentId", "")
        keys = root.findall(f"{{{CPIX}}}ContentKeyList/{{{CPIX}}}ContentKey")
        print(f"{self.path} {content_id} {len(keys)} {self.headers.get('X-Speke-Version')}", flush=True)
        if self.path == "/500":
            self.reply(500, "key server broken", "text/plain")
            return
        if self.path == "/malformed":
            self.reply(200, "<cpix:CPIX this is not xml")
            return
        if self.path == "/slow":
            time.sleep(8)
        for ck in keys:
            data = ET.SubElement(ck, f"{{{CPIX}}}Data")
            secret = ET.SubElement(data, f"{{{PSKC}}}Secret")
            plain = ET.SubElement(secret, f"{{{PSKC}}}PlainValue")
            plain.text = base64.b64encode(key_for(ck.get("kid"))).decode()
        # Widevine and PlayReady signalling (pssh boxes) and FairPlay's (its HLS key tag,
        # base64), as a DRM key server returns them.
        for sys_el in root.findall(f"{{{CPIX}}}DRMSystemList/{{{CPIX}}}DRMSystem"):
            system = sys_el.get("systemId", "").lower()
            if system in (WIDEVINE, PLAYREADY):
                p = sys_el.find(f"{{{CPIX}}}PSSH")
                if p is None:
                    p = ET.SubElement(sys_el, f"{{{CPIX}}}PSSH")
                data = b"streampack-test-" + system.encode()[:8] + b"-" + sys_el.get("kid", "").encode()
                p.text = base64.b64encode(pssh_box(system, data)).decode()
            if system == FAIRPLAY:
                # SPEKE v2: the whole key tag for media playlists (no URIExtXKey).
                for u in sys_el.findall(f"{{{CPIX}}}URIExtXKey"):
                    sys_el.remove(u)
                h = sys_el.find(f"{{{CPIX}}}HLSSignalingData")
                if h is None:
                    h = ET.SubElement(sys_el, f"{{{CPIX}}}HLSSignalingData", playlist="media")
                skd = "skd://streampack-test/" + sys_el.get("kid", "")
                tag = (f'#EXT-X-KEY:METHOD=SAMPLE-AES,URI="{skd}",'
                       'KEYFORMAT="com.apple.streamingkeydelivery",KEYFORMATVERSIONS="1"')
                h.text = base64.b64encode(tag.encode()).decode()
        if self.path == "/wrong-content-id":
            root.set("contentId", "someone-else")
        try:
            self.reply(200, ET.tostring(root, xml_declaration=True, encoding="UTF-8"))
        except BrokenPipeError:
            pass


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"port {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
