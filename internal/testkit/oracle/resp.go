package oracle

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
)

// readReply reads one RESP2 reply and returns the first error reply found in
// it (nested ones included, as in an EXEC result), or "" when there is none.
// err reports a broken connection or malformed reply.
func readReply(r *bufio.Reader) (errReply string, err error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return "", err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return "", fmt.Errorf("oracle: malformed reply line %q", line)
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+', ':':
		return "", nil
	case '-':
		return string(body), nil
	case '$':
		n, err := strconv.Atoi(string(body))
		if err != nil {
			return "", fmt.Errorf("oracle: bad bulk length %q", body)
		}
		if n < 0 {
			return "", nil
		}
		_, err = r.Discard(n + 2)
		return "", err
	case '*':
		n, err := strconv.Atoi(string(body))
		if err != nil {
			return "", fmt.Errorf("oracle: bad array length %q", body)
		}
		first := ""
		for i := 0; i < n; i++ {
			e, err := readReply(r)
			if err != nil {
				return "", err
			}
			if first == "" {
				first = e
			}
		}
		return first, nil
	}
	return "", errors.New("oracle: unknown reply type " + strconv.Quote(string(line[:1])))
}
