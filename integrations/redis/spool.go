package redis

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// spoolFile is the name of the spool inside TimelineConfig.SpoolDir.
const spoolFile = "timeline.spool"

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// spool is an append-only file of timeline events waiting for Redis, one
// per line as "CRC32C-HEX SP JSON LF", fsync'd on every append. The checksum
// tells a torn or corrupted line from a good one after a crash. The file is
// emptied only once every event in it is stored in Redis; a crash before
// that re-sends them, which the store's per-event idempotence makes harmless.
//
// A spool is not safe for concurrent use; Timeline serialises access.
type spool struct {
	path string
	f    *os.File
	size int64
	log  *zap.Logger
}

// openSpool opens (creating if needed) the spool in dir, takes an exclusive
// lock on it so two processes never share one, and returns the events it
// holds. A torn last line is cut off; corrupted lines are skipped; both are
// logged.
func openSpool(dir string, log *zap.Logger) (*spool, []heldEvent, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create spool dir %q: %w", dir, err)
	}
	path := filepath.Join(dir, spoolFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open spool %q: %w", path, err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("lock spool %q (is another opsbot using this spool dir?): %w", path, err)
	}
	s := &spool{path: path, f: f, log: log}
	held, end, err := s.read()
	if err != nil {
		s.close()
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		s.close()
		return nil, nil, fmt.Errorf("stat spool %q: %w", path, err)
	}
	if st.Size() > end {
		// The process died in the middle of writing a line. That event's
		// Append never returned nil, so dropping it loses nothing accepted;
		// leaving it would glue the next line onto it.
		log.Warn("timeline spool: dropping torn last line",
			zap.String("spool", path), zap.Int64("offset", end), zap.Int64("bytes", st.Size()-end))
		if err := f.Truncate(end); err != nil {
			s.close()
			return nil, nil, fmt.Errorf("cut torn line off spool %q: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			s.close()
			return nil, nil, fmt.Errorf("sync spool %q: %w", path, err)
		}
	}
	s.size = end
	// Make the file's directory entry durable too, or a crash right after
	// creating it could lose the whole file.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return s, held, nil
}

// read parses the whole spool and returns its events and the offset just
// past the last complete line.
func (s *spool) read() ([]heldEvent, int64, error) {
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, 0, fmt.Errorf("read spool %q: %w", s.path, err)
	}
	r := bufio.NewReaderSize(s.f, 64<<10)
	var (
		held []heldEvent
		off  int64
		line int
	)
	for {
		b, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return held, off, nil // b, if any, is the torn tail
		}
		if err != nil {
			return nil, 0, fmt.Errorf("read spool %q: %w", s.path, err)
		}
		line++
		off += int64(len(b))
		h, perr := parseSpoolLine(b[:len(b)-1])
		if perr != nil {
			s.log.Error("timeline spool: skipping corrupted line",
				zap.String("spool", s.path), zap.Int("line", line), zap.Error(perr))
			continue
		}
		held = append(held, h)
	}
}

func parseSpoolLine(b []byte) (heldEvent, error) {
	sum, data, ok := bytes.Cut(b, []byte{' '})
	if !ok || len(sum) != 8 {
		return heldEvent{}, errors.New("no checksum")
	}
	var want [4]byte
	if _, err := hex.Decode(want[:], sum); err != nil {
		return heldEvent{}, errors.New("bad checksum field")
	}
	got := crc32.Checksum(data, crcTable)
	if got != uint32(want[0])<<24|uint32(want[1])<<16|uint32(want[2])<<8|uint32(want[3]) {
		return heldEvent{}, errors.New("checksum mismatch")
	}
	var ev bot.TimelineEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return heldEvent{}, fmt.Errorf("decode event: %w", err)
	}
	if err := validateEvent(ev); err != nil {
		return heldEvent{}, err
	}
	return heldEvent{ev: ev, data: bytes.Clone(data)}, nil
}

func spoolLine(data []byte) []byte {
	line := make([]byte, 0, len(data)+10)
	line = fmt.Appendf(line, "%08x ", crc32.Checksum(data, crcTable))
	line = append(line, data...)
	return append(line, '\n')
}

// append writes one event and fsyncs. On failure it cuts the file back to
// where it was, so a half-written line never sits in front of later ones.
func (s *spool) append(data []byte) error {
	line := spoolLine(data)
	n, err := s.f.Write(line)
	if err == nil {
		err = s.f.Sync()
	}
	if err != nil {
		if n > 0 {
			_ = s.f.Truncate(s.size)
		}
		return fmt.Errorf("write spool %q: %w", s.path, err)
	}
	s.size += int64(n)
	return nil
}

// reset empties the spool once every event in it is stored.
func (s *spool) reset() error {
	if s.size == 0 {
		return nil
	}
	if err := s.f.Truncate(0); err != nil {
		return fmt.Errorf("truncate spool %q: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("sync spool %q: %w", s.path, err)
	}
	s.size = 0
	return nil
}

func (s *spool) close() error {
	unlockFile(s.f)
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("close spool %q: %w", s.path, err)
	}
	return nil
}
