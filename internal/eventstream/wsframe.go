package eventstream

import "encoding/binary"

// The server writes its text frames itself rather than through the
// WebSocket library, so that an event's frame is made once for every
// client (mq.Event.Encoded) and a client's queued frames leave in one
// write (batch.go). A server frame is unmasked, so its bytes are the same
// for every client (RFC 6455 §5.2): FIN and the opcode, the payload
// length in 7 bits, or 126 and 16 bits, or 127 and 64 bits, then the
// payload. No extension is negotiated (the library's Accept offers no
// compression by default), so the reserved bits stay 0.

// appendTextFrame appends one final, unmasked text frame of payload.
func appendTextFrame(b, payload []byte) []byte {
	return append(appendTextHeader(b, len(payload)), payload...)
}

// maxTextHeader is the longest frame header: 2 bytes and a 64-bit length.
const maxTextHeader = 10

// appendTextHeader appends the header of a final, unmasked text frame
// whose payload is n bytes.
func appendTextHeader(b []byte, n int) []byte {
	const finText = 0x80 | 0x1
	switch {
	case n < 126:
		b = append(b, finText, byte(n))
	case n <= 0xffff:
		b = append(b, finText, 126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, finText, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return b
}
