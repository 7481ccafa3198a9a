package redis

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"go.uber.org/zap"
)

// lineSpool is an append-only file of records waiting for Redis, one per
// line as "CRC32C-HEX SP JSON LF", fsync'd on every append: the same format
// as the timeline's spool, for records of other kinds (alert
// notifications). The checksum tells a torn or corrupted line from a good
// one after a crash. The file is emptied only once every record in it is in
// Redis. Not safe for concurrent use; the owner serialises access.
type lineSpool struct {
	path string
	f    *os.File
	size int64
	log  *zap.Logger
}

// openLineSpool opens (creating if needed) the spool file name in dir,
// locks it against a second process and returns the records it holds. A
// torn last line is cut off and corrupted lines are skipped; both are
// logged.
func openLineSpool(dir, name string, log *zap.Logger) (*lineSpool, [][]byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create spool dir %q: %w", dir, err)
	}
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open spool %q: %w", path, err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("lock spool %q (is another opsbot using this spool dir?): %w", path, err)
	}
	s := &lineSpool{path: path, f: f, log: log}
	recs, end, err := s.read()
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
		// The process died while writing a line: that record's append never
		// returned nil, so dropping it loses nothing accepted.
		log.Warn("spool: dropping torn last line", zap.String("spool", path), zap.Int64("offset", end))
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
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return s, recs, nil
}

func (s *lineSpool) read() ([][]byte, int64, error) {
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, 0, fmt.Errorf("read spool %q: %w", s.path, err)
	}
	r := bufio.NewReaderSize(s.f, 64<<10)
	var (
		recs [][]byte
		off  int64
		line int
	)
	for {
		b, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return recs, off, nil
		}
		if err != nil {
			return nil, 0, fmt.Errorf("read spool %q: %w", s.path, err)
		}
		line++
		off += int64(len(b))
		sum, data, ok := bytes.Cut(b[:len(b)-1], []byte{' '})
		var want [4]byte
		if !ok || len(sum) != 8 {
			s.log.Error("spool: skipping corrupted line", zap.String("spool", s.path), zap.Int("line", line))
			continue
		}
		if _, err := hex.Decode(want[:], sum); err != nil ||
			crc32.Checksum(data, crcTable) != uint32(want[0])<<24|uint32(want[1])<<16|uint32(want[2])<<8|uint32(want[3]) {
			s.log.Error("spool: skipping corrupted line", zap.String("spool", s.path), zap.Int("line", line))
			continue
		}
		recs = append(recs, bytes.Clone(data))
	}
}

// append writes one record and fsyncs; on failure it cuts the file back so
// a half-written line never precedes later ones.
func (s *lineSpool) append(data []byte) error {
	if bytes.IndexByte(data, '\n') >= 0 {
		return errors.New("spool record contains a newline")
	}
	n, err := s.f.Write(spoolLine(data))
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

// reset empties the spool once every record in it is stored.
func (s *lineSpool) reset() error {
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

func (s *lineSpool) close() error {
	unlockFile(s.f)
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("close spool %q: %w", s.path, err)
	}
	return nil
}
