package filter

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

type tokKind int

const (
	tEOF tokKind = iota
	tLParen
	tRParen
	tLBrack
	tRBrack
	tString // a quoted string; text is decoded
	tWord   // anything else: attribute path, operator, keyword, bare value
)

type token struct {
	kind tokKind
	text string
	pos  int // byte offset of the token's first character
}

func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "the end of the input"
	case tString:
		return "a quoted string"
	}
	return `"` + t.text + `"`
}

// lexer splits the input into tokens. Words are maximal runs of anything
// but whitespace, parentheses, brackets and quotes, so bare values such as
// jdoe@contoso.com (contract §2.5, older Entra docs) lex as one word.
type lexer struct {
	src     string
	pos     int
	errType string
}

func (l *lexer) errorf(pos int, format string, args ...any) *scimerr.Error {
	e := scimerr.BadRequest(l.errType, format, args...)
	e.Detail += " (at offset " + itoa(pos) + " of " + quoteShort(l.src) + ")"
	return e
}

func (l *lexer) next() (token, error) {
	for l.pos < len(l.src) && isSpace(l.src[l.pos]) {
		l.pos++
	}
	if l.pos >= len(l.src) {
		return token{kind: tEOF, pos: l.pos}, nil
	}
	start := l.pos
	switch c := l.src[l.pos]; c {
	case '(':
		l.pos++
		return token{tLParen, "(", start}, nil
	case ')':
		l.pos++
		return token{tRParen, ")", start}, nil
	case '[':
		l.pos++
		return token{tLBrack, "[", start}, nil
	case ']':
		l.pos++
		return token{tRBrack, "]", start}, nil
	case '"':
		s, err := l.str()
		if err != nil {
			return token{}, err
		}
		return token{tString, s, start}, nil
	}
	for l.pos < len(l.src) && !isDelim(l.src[l.pos]) {
		l.pos++
	}
	return token{tWord, l.src[start:l.pos], start}, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isDelim(c byte) bool {
	return isSpace(c) || c == '(' || c == ')' || c == '[' || c == ']' || c == '"'
}

// str decodes a JSON string literal (RFC 8259 §7) starting at l.pos.
func (l *lexer) str() (string, error) {
	start := l.pos
	l.pos++ // opening quote
	var b strings.Builder
	for {
		if l.pos >= len(l.src) {
			return "", l.errorf(start, "unterminated string")
		}
		c := l.src[l.pos]
		switch {
		case c == '"':
			l.pos++
			return b.String(), nil
		case c == '\\':
			if l.pos+1 >= len(l.src) {
				return "", l.errorf(l.pos, "unterminated escape in string")
			}
			esc := l.src[l.pos+1]
			l.pos += 2
			switch esc {
			case '"', '\\', '/':
				b.WriteByte(esc)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				r, ok := l.hex4()
				if !ok {
					return "", l.errorf(l.pos-2, `invalid \u escape: want four hex digits`)
				}
				if utf16.IsSurrogate(r) {
					// A surrogate pair spells one character as \uD83D\uDE00.
					save := l.pos
					if l.pos+1 < len(l.src) && l.src[l.pos] == '\\' && l.src[l.pos+1] == 'u' {
						l.pos += 2
						if r2, ok := l.hex4(); ok {
							if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
								b.WriteRune(d)
								continue
							}
						}
					}
					l.pos = save
					r = utf8.RuneError
				}
				b.WriteRune(r)
			default:
				return "", l.errorf(l.pos-2, `invalid escape \%c in string (JSON escapes: \" \\ \/ \b \f \n \r \t \uXXXX)`, esc)
			}
		default:
			b.WriteByte(c)
			l.pos++
		}
	}
}

func (l *lexer) hex4() (rune, bool) {
	if l.pos+4 > len(l.src) {
		return 0, false
	}
	var r rune
	for i := 0; i < 4; i++ {
		c := l.src[l.pos+i]
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	l.pos += 4
	return r, true
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var buf [20]byte
	i := len(buf)
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return string(buf[i:])
}

// quoteShort quotes the input for error details, shortened so a hostile
// 8 KiB filter does not come back whole in the error body.
func quoteShort(s string) string {
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return "`" + s + "`"
}
