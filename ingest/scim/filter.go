package scim

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"muster/schema"
)

// Path is an attribute path of a filter or of a PATCH operation (RFC 7644
// §3.4.2.2, §3.5.2): an optional schema URN, an attribute, an optional
// filter on the elements of a multi-valued attribute, and an optional
// sub-attribute, as in `emails[type eq "work"].value` or
// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`.
// A bare extension URN has an empty Attr: the whole extension.
type Path struct {
	URN    string
	Attr   string
	Filter Expr
	Sub    string
}

func (p Path) String() string {
	s := p.Attr
	if p.URN != "" {
		s = p.URN + ":" + s
	}
	if p.Filter != nil {
		s += "[...]"
	}
	if p.Sub != "" {
		s += "." + p.Sub
	}
	return s
}

// Expr is a parsed filter: a Compare, a Logic, a Not or a Present.
type Expr interface{ expr() }

// Compare is `path op value` (op lower-cased: eq, ne, co, sw, ew, gt, ge,
// lt, le) or `path pr` (Value nil, Op "pr"). Value is a string, a bool, a
// float64 or nil (null).
type Compare struct {
	Path  Path
	Op    string
	Value any
}

// Logic is `left and right` or `left or right`.
type Logic struct {
	Op          string
	Left, Right Expr
}

// Not is `not (x)`.
type Not struct{ X Expr }

// Present is a value path alone, `emails[type eq "work"]`: true when an
// element matches.
type Present struct{ Path Path }

func (Compare) expr() {}
func (Logic) expr()   {}
func (Not) expr()     {}
func (Present) expr() {}

// The parser is our own rather than github.com/scim2/filter-parser: that
// one refuses Entra ID's documented matching query
// `emails[type eq "work"].value eq "..."` (a sub-attribute after a value
// filter), which is the query Entra sends when email is the matching
// attribute. The grammar is small: RFC 7644 §3.4.2.2 with that extension.

type token struct {
	kind byte // 'w' word, 's' string, or the punctuation itself: ( ) [ ]
	text string
	pos  int
}

func lex(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')' || c == '[' || c == ']':
			out = append(out, token{kind: c, text: string(c), pos: i})
			i++
		case c == '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return nil, fmt.Errorf("a string opened at %d is not closed", i+1)
			}
			v, err := strconv.Unquote(s[i : j+1])
			if err != nil {
				// JSON allows escapes Go's quoting does not (\/); keep the text.
				v = strings.ReplaceAll(s[i+1:j], `\"`, `"`)
			}
			out = append(out, token{kind: 's', text: v, pos: i})
			i = j + 1
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\r\n()[]\"", rune(s[j])) {
				j++
			}
			out = append(out, token{kind: 'w', text: s[i:j], pos: i})
			i = j
		}
	}
	return out, nil
}

type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() *token {
	if p.i < len(p.toks) {
		return &p.toks[p.i]
	}
	return nil
}

func (p *parser) word(w string) bool {
	t := p.peek()
	if t != nil && t.kind == 'w' && strings.EqualFold(t.text, w) {
		p.i++
		return true
	}
	return false
}

func (p *parser) punct(c byte) bool {
	t := p.peek()
	if t != nil && t.kind == c {
		p.i++
		return true
	}
	return false
}

func (p *parser) errf(format string, args ...any) error {
	at := "at the end"
	if t := p.peek(); t != nil {
		at = fmt.Sprintf("at %d (%q)", t.pos+1, t.text)
	}
	return fmt.Errorf(format+" "+at, args...)
}

func (p *parser) or() (Expr, error) {
	l, err := p.and()
	for err == nil && p.word("or") {
		var r Expr
		if r, err = p.and(); err == nil {
			l = Logic{Op: "or", Left: l, Right: r}
		}
	}
	return l, err
}

func (p *parser) and() (Expr, error) {
	l, err := p.factor()
	for err == nil && p.word("and") {
		var r Expr
		if r, err = p.factor(); err == nil {
			l = Logic{Op: "and", Left: l, Right: r}
		}
	}
	return l, err
}

func (p *parser) factor() (Expr, error) {
	not := p.word("not")
	if p.punct('(') {
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if !p.punct(')') {
			return nil, p.errf("expected )")
		}
		if not {
			return Not{x}, nil
		}
		return x, nil
	}
	if not {
		return nil, p.errf("expected ( after not")
	}
	path, err := p.path()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	if t == nil || t.kind != 'w' || isLogic(t.text) {
		if path.Filter != nil && path.Sub == "" {
			return Present{path}, nil
		}
		return nil, p.errf("expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) after %s", path)
	}
	op := strings.ToLower(t.text)
	p.i++
	switch op {
	case "pr":
		return Compare{Path: path, Op: op}, nil
	case "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le":
	default:
		p.i--
		return nil, p.errf("unknown operator")
	}
	v := p.peek()
	if v == nil {
		return nil, p.errf("expected a value after %s", op)
	}
	p.i++
	if v.kind == 's' {
		return Compare{Path: path, Op: op, Value: v.text}, nil
	}
	if v.kind != 'w' {
		p.i--
		return nil, p.errf("expected a value")
	}
	switch strings.ToLower(v.text) {
	case "true":
		return Compare{Path: path, Op: op, Value: true}, nil
	case "false":
		return Compare{Path: path, Op: op, Value: false}, nil
	case "null":
		return Compare{Path: path, Op: op, Value: nil}, nil
	}
	if f, err := strconv.ParseFloat(v.text, 64); err == nil {
		return Compare{Path: path, Op: op, Value: f}, nil
	}
	p.i--
	return nil, p.errf("a value must be a quoted string, true, false, null or a number")
}

func isLogic(w string) bool {
	return strings.EqualFold(w, "and") || strings.EqualFold(w, "or")
}

// path reads attrPath ["[" filter "]"] ["." subAttr].
func (p *parser) path() (Path, error) {
	t := p.peek()
	if t == nil || t.kind != 'w' {
		return Path{}, p.errf("expected an attribute")
	}
	p.i++
	path, err := splitPath(t.text)
	if err != nil {
		return path, fmt.Errorf("%w at %d", err, t.pos+1)
	}
	if p.punct('[') {
		if path.Sub != "" {
			return path, p.errf("a filter [...] follows an attribute, not a sub-attribute")
		}
		f, err := p.or()
		if err != nil {
			return path, err
		}
		if !p.punct(']') {
			return path, p.errf("expected ]")
		}
		path.Filter = f
		if t := p.peek(); t != nil && t.kind == 'w' && strings.HasPrefix(t.text, ".") {
			p.i++
			path.Sub = t.text[1:]
			if !validName(path.Sub) {
				return path, fmt.Errorf("%q is not an attribute name at %d", path.Sub, t.pos+2)
			}
		}
	}
	return path, nil
}

// splitPath reads [URN ":"] attr ["." sub]. A known extension URN alone is
// the whole extension.
func splitPath(s string) (Path, error) {
	var path Path
	if len(s) > 4 && strings.EqualFold(s[:4], "urn:") {
		if urn, ok := knownURN(s); ok {
			return Path{URN: urn}, nil
		}
		i := strings.LastIndexByte(s, ':')
		urn, ok := knownURN(s[:i])
		if !ok {
			urn = s[:i]
		}
		path.URN, s = urn, s[i+1:]
	}
	var dotted bool
	path.Attr, path.Sub, dotted = strings.Cut(s, ".")
	if !validName(path.Attr) || (dotted && !validName(path.Sub)) {
		return path, fmt.Errorf("%q is not an attribute path", s)
	}
	return path, nil
}

// validName: ATTRNAME = ALPHA *(nameChar), and "$ref".
func validName(s string) bool {
	if s == "$ref" {
		return true
	}
	for i, r := range s {
		if !(r < unicode.MaxASCII && (unicode.IsLetter(r) || i > 0 && (unicode.IsDigit(r) || r == '_' || r == '-'))) {
			return false
		}
	}
	return s != ""
}

// ParseFilter parses a filter (the filter query parameter). Its error has
// code EInvalid and says where the filter went wrong.
func ParseFilter(s string) (Expr, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, schema.Errorf(schema.EInvalid, "filter: %v", err)
	}
	p := &parser{toks: toks}
	x, err := p.or()
	if err == nil && p.peek() != nil {
		err = p.errf("unexpected text")
	}
	if err != nil {
		return nil, schema.Errorf(schema.EInvalid, "filter %q: %v", s, err)
	}
	return x, nil
}

// ParsePath parses the path of a PATCH operation.
func ParsePath(s string) (Path, error) {
	toks, err := lex(s)
	if err != nil {
		return Path{}, schema.Errorf(schema.EInvalid, "path: %v", err)
	}
	p := &parser{toks: toks}
	path, err := p.path()
	if err == nil && p.peek() != nil {
		err = p.errf("unexpected text")
	}
	if err != nil {
		return Path{}, schema.Errorf(schema.EInvalid, "path %q: %v", s, err)
	}
	return path, nil
}

// matches evaluates a value filter over one element of a multi-valued
// attribute (a JSON object), attribute names compared ignoring case and
// strings ignoring case (the sub-attributes IdPs filter on, type, value and
// display, are not case-exact).
func matches(x Expr, elem map[string]any) bool {
	switch x := x.(type) {
	case Logic:
		if x.Op == "and" {
			return matches(x.Left, elem) && matches(x.Right, elem)
		}
		return matches(x.Left, elem) || matches(x.Right, elem)
	case Not:
		return !matches(x.X, elem)
	case Compare:
		name := x.Path.Attr
		if x.Path.Sub != "" {
			name = x.Path.Sub // emails[value eq ...] filters address the element itself
		}
		v, ok := lookup(elem, name)
		return compare(v, ok, x.Op, x.Value)
	}
	return false
}

func compare(v any, present bool, op string, want any) bool {
	if op == "pr" {
		return present && v != nil && v != ""
	}
	switch w := want.(type) {
	case string:
		s, ok := v.(string)
		if !ok {
			if b, isBool := v.(bool); isBool {
				s, ok = strconv.FormatBool(b), true
			}
		}
		if !ok {
			return op == "ne"
		}
		s, w = strings.ToLower(s), strings.ToLower(w)
		switch op {
		case "eq":
			return s == w
		case "ne":
			return s != w
		case "co":
			return strings.Contains(s, w)
		case "sw":
			return strings.HasPrefix(s, w)
		case "ew":
			return strings.HasSuffix(s, w)
		case "gt":
			return s > w
		case "ge":
			return s >= w
		case "lt":
			return s < w
		case "le":
			return s <= w
		}
	case bool:
		b, ok := toBool(v)
		return ok && (op == "eq") == (b == w)
	case nil:
		return (op == "eq") == (!present || v == nil)
	}
	return false
}
