package scim

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"muster/schema"
)

// Resource is a SCIM User or Group as muster keeps it: what the IdP last
// sent, so that it always answers the IdP what the IdP said.
type Resource struct {
	Type string
	// ID is muster's id of the resource; the IdP's own is externalId.
	ID string
	// Attrs holds the attributes as the IdP last sent them, spelled as the
	// schema spells them: core attributes at the top, the enterprise
	// extension's under its URN. Never id, meta, schemas, password (write
	// only: never kept), a user's groups (read only) or a group's members.
	Attrs map[string]any
	// Members are a group's members (nil when not read: excludedAttributes=members).
	Members []Member
	// Groups are the groups a user is a member of (read only).
	Groups            []Member
	Created, Modified time.Time
	Version           int64
}

// Member is one element of a group's members or a user's groups.
type Member struct {
	Value   string `json:"value"`
	Display string `json:"display,omitempty"`
}

// Str returns a top-level string attribute ("" when absent).
func (r *Resource) Str(name string) string {
	v, _ := lookup(r.Attrs, name)
	s, _ := v.(string)
	return s
}

// UserName, ExternalID and DisplayName return those attributes.
func (r *Resource) UserName() string    { return r.Str("userName") }
func (r *Resource) ExternalID() string  { return r.Str("externalId") }
func (r *Resource) DisplayName() string { return r.Str("displayName") }

// Active says whether a user is active; a user that never said is.
func (r *Resource) Active() bool {
	v, ok := lookup(r.Attrs, "active")
	if !ok || v == nil {
		return true
	}
	b, _ := toBool(v)
	return b
}

// Clone returns a deep copy the caller may change.
func (r *Resource) Clone() *Resource {
	c := *r
	c.Attrs = deepCopy(r.Attrs).(map[string]any)
	c.Members = slices.Clone(r.Members)
	c.Groups = slices.Clone(r.Groups)
	return &c
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = deepCopy(e)
		}
		return s
	}
	return v
}

// lookup finds a key of m ignoring case (SCIM attribute names are not
// case-sensitive).
func lookup(m map[string]any, name string) (any, bool) {
	if v, ok := m[name]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

func keyOf(m map[string]any, name string) (string, bool) {
	if _, ok := m[name]; ok {
		return name, true
	}
	for k := range m {
		if strings.EqualFold(k, name) {
			return k, true
		}
	}
	return "", false
}

// toBool reads a boolean, and the strings Entra ID sends for one ("True",
// "False").
func toBool(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		if b, err := strconv.ParseBool(strings.TrimSpace(x)); err == nil {
			return b, true
		}
	}
	return false, false
}

func invalidValue(format string, args ...any) error {
	return &Error{Status: 400, Type: "invalidValue", Detail: fmt.Sprintf(format, args...)}
}

// decodeResource reads a request body (a User or a Group) into a resource.
// Unknown attributes are ignored (RFC 7644 §3.3: the server may ignore
// them), as are read-only ones and the password, which muster never keeps.
// members is set (possibly empty) when the body has a members attribute.
func decodeResource(typ string, body []byte) (*Resource, bool, error) {
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, false, &Error{Status: 400, Type: "invalidSyntax", Detail: "the body is not a JSON object"}
	}
	r := &Resource{Type: typ, Attrs: map[string]any{}}
	hasMembers := false
	for k, v := range m {
		switch {
		case strings.EqualFold(k, "schemas") || strings.EqualFold(k, "id") || strings.EqualFold(k, "meta"):
		case typ == TypeGroup && strings.EqualFold(k, "members"):
			ms, err := decodeMembers(v)
			if err != nil {
				return nil, false, err
			}
			r.Members, hasMembers = ms, true
		default:
			if err := setAttr(r, k, v); err != nil {
				return nil, false, err
			}
		}
	}
	return r, hasMembers, nil
}

// setAttr sets a top-level attribute, a dotted one (name.givenName) or an
// extension's (its URN as key, or URN:attr), as a path-less PATCH value or a
// body gives it.
func setAttr(r *Resource, key string, v any) error {
	path, err := splitPath(key)
	if err != nil {
		if _, known := knownURN(key); !known && strings.HasPrefix(strings.ToLower(key), "urn:") {
			return nil // another extension: ignored
		}
		return invalidValue("%q is not an attribute", key)
	}
	return setPath(r, path, v, false)
}

// setPath sets (or, add true, adds to) the attribute at path (without a
// value filter).
func setPath(r *Resource, path Path, v any, add bool) error {
	target, defs := r.Attrs, defsOf(r.Type, path.URN)
	if path.URN == "" && strings.EqualFold(path.Attr, "externalId") {
		s, err := canonString(externalID, v)
		if err != nil {
			return err
		}
		putOrDelete(target, "externalId", s)
		return nil
	}
	if defs == nil {
		return nil // an extension muster does not know: ignored
	}
	if path.URN == URNEnterprise && path.Attr == "" { // the whole extension
		obj, ok := v.(map[string]any)
		if !ok && v != nil {
			return invalidValue("%s must be an object", URNEnterprise)
		}
		// RFC 7644 §3.5.2.3: sub-attributes not given are left unchanged.
		for k, e := range obj {
			sub, err := splitPath(k)
			if err != nil {
				return invalidValue("%q is not an attribute of %s", k, URNEnterprise)
			}
			sub.URN = URNEnterprise
			if err := setPath(r, sub, e, add); err != nil {
				return err
			}
		}
		return nil
	}
	if path.URN == URNEnterprise {
		ext, _ := target[URNEnterprise].(map[string]any)
		if ext == nil {
			ext = map[string]any{}
		}
		target = ext
		defer func() {
			if len(ext) > 0 {
				r.Attrs[URNEnterprise] = ext
			} else {
				delete(r.Attrs, URNEnterprise)
			}
		}()
	}
	def := findDef(defs, path.Attr)
	if def == nil || def.Mutability == "readOnly" || def.Mutability == "writeOnly" {
		return nil // unknown, read-only or the password: ignored
	}
	if path.Sub != "" {
		sd := findDef(def.Sub, path.Sub)
		if sd == nil {
			return invalidValue("%s has no sub-attribute %q", def.Name, path.Sub)
		}
		if def.Multi {
			return invalidValue("%s is multi-valued: name the element with a filter, as %s[type eq \"work\"].%s", def.Name, def.Name, sd.Name)
		}
		val, err := canonValue(sd, v)
		if err != nil {
			return err
		}
		obj, _ := target[def.Name].(map[string]any)
		if obj == nil {
			obj = map[string]any{}
		}
		putOrDelete(obj, sd.Name, val)
		putOrDelete(target, def.Name, obj)
		return nil
	}
	val, err := canonValue(def, v)
	if err != nil {
		return err
	}
	switch cur := target[def.Name].(type) {
	case []any:
		if add && def.Multi && val != nil {
			for _, e := range val.([]any) {
				if !slices.ContainsFunc(cur, func(c any) bool { return sameValue(c, e) }) {
					cur = append(cur, e)
				}
			}
			val = cur
		}
	case map[string]any:
		if !def.Multi && val != nil {
			// add or replace of a complex attribute changes the
			// sub-attributes given and leaves the others (RFC 7644 §3.5.2.3)
			merged := maps.Clone(cur)
			maps.Copy(merged, val.(map[string]any))
			val = merged
		}
	}
	putOrDelete(target, def.Name, val)
	return nil
}

func sameValue(a, b any) bool {
	am, ok1 := a.(map[string]any)
	bm, ok2 := b.(map[string]any)
	if !ok1 || !ok2 {
		return false
	}
	av, _ := lookup(am, "value")
	bv, _ := lookup(bm, "value")
	return av != nil && fmt.Sprint(av) == fmt.Sprint(bv)
}

func putOrDelete(m map[string]any, k string, v any) {
	switch x := v.(type) {
	case nil:
		delete(m, k)
		return
	case map[string]any:
		if len(x) == 0 {
			delete(m, k)
			return
		}
	case []any:
		if len(x) == 0 {
			delete(m, k)
			return
		}
	}
	m[k] = v
}

// canonValue holds a value to its definition: names spelled as the schema
// does, booleans as booleans (Entra's "False" too), numbers as strings where
// a string is expected, one object given for a multi-valued attribute taken
// as a list of one.
func canonValue(def *attrDef, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if def.Multi {
		list, ok := v.([]any)
		if !ok {
			list = []any{v}
		}
		out := make([]any, 0, len(list))
		single := *def
		single.Multi = false
		for _, e := range list {
			c, err := canonValue(&single, e)
			if err != nil {
				return nil, err
			}
			if c != nil {
				out = append(out, c)
			}
		}
		return out, nil
	}
	switch def.Type {
	case "complex":
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, invalidValue("%s must be an object", def.Name)
		}
		out := make(map[string]any, len(obj))
		for k, e := range obj {
			sd := findDef(def.Sub, k)
			if sd == nil || sd.Mutability == "readOnly" && def.Name != "members" {
				continue
			}
			c, err := canonValue(sd, e)
			if err != nil {
				return nil, err
			}
			if c != nil {
				out[sd.Name] = c
			}
		}
		return out, nil
	case "boolean":
		b, ok := toBool(v)
		if !ok {
			return nil, invalidValue("%s must be true or false, not %v", def.Name, v)
		}
		return b, nil
	}
	return canonString(*def, v)
}

func canonString(def attrDef, v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		if len(x) > maxValueLen {
			return nil, invalidValue("%s is longer than %d bytes", def.Name, maxValueLen)
		}
		return x, nil
	case json.Number:
		return x.String(), nil
	case bool:
		return strconv.FormatBool(x), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	}
	return nil, invalidValue("%s must be a string", def.Name)
}

// maxValueLen bounds one string value.
const maxValueLen = 4096

func decodeMembers(v any) ([]Member, error) {
	if v == nil {
		return []Member{}, nil
	}
	list, ok := v.([]any)
	if !ok {
		list = []any{v}
	}
	out := make([]Member, 0, len(list))
	for _, e := range list {
		obj, ok := e.(map[string]any)
		if !ok {
			return nil, invalidValue("a member must be an object with a value (the user's id)")
		}
		val, _ := lookup(obj, "value")
		s, ok := val.(string)
		if !ok || s == "" {
			return nil, invalidValue("a member must have a value (the user's id)")
		}
		d, _ := lookup(obj, "display")
		ds, _ := d.(string)
		out = append(out, Member{Value: s, Display: ds})
	}
	return out, nil
}

// render returns the resource as SCIM JSON; base is the source's base URL.
func render(r *Resource, base string) map[string]any {
	m := make(map[string]any, len(r.Attrs)+4)
	maps.Copy(m, r.Attrs)
	schemas := []string{URNUser}
	if r.Type == TypeGroup {
		schemas = []string{URNGroup}
	} else if _, ok := r.Attrs[URNEnterprise]; ok {
		schemas = append(schemas, URNEnterprise)
	}
	m["schemas"] = schemas
	m["id"] = r.ID
	plural := "/Users/"
	if r.Type == TypeGroup {
		plural = "/Groups/"
		if r.Members != nil {
			ms := make([]any, len(r.Members))
			for i, x := range r.Members {
				e := map[string]any{"value": x.Value, "$ref": base + "/Users/" + x.Value, "type": "User"}
				if x.Display != "" {
					e["display"] = x.Display
				}
				ms[i] = e
			}
			m["members"] = ms
		}
	} else if len(r.Groups) > 0 {
		gs := make([]any, len(r.Groups))
		for i, g := range r.Groups {
			gs[i] = map[string]any{"value": g.Value, "display": g.Display, "$ref": base + "/Groups/" + g.Value, "type": "direct"}
		}
		m["groups"] = gs
	}
	m["meta"] = map[string]any{"resourceType": r.Type, "created": r.Created.UTC().Format(time.RFC3339Nano),
		"lastModified": r.Modified.UTC().Format(time.RFC3339Nano), "location": base + plural + r.ID,
		"version": fmt.Sprintf(`W/"%d"`, r.Version)}
	return m
}

// ETag is the resource's version as an entity tag.
func (r *Resource) ETag() string { return fmt.Sprintf(`W/"%d"`, r.Version) }

// projection is the attributes and excludedAttributes query parameters.
type projection struct {
	include, exclude []Path
}

func parseProjection(attributes, excluded string) (projection, error) {
	var p projection
	for _, pair := range []struct {
		raw string
		out *[]Path
	}{{attributes, &p.include}, {excluded, &p.exclude}} {
		for _, a := range strings.Split(pair.raw, ",") {
			if a = strings.TrimSpace(a); a == "" {
				continue
			}
			path, err := splitPath(a)
			if err != nil {
				return p, &Error{Status: 400, Type: "invalidValue", Detail: fmt.Sprintf("attributes: %v", err)}
			}
			*pair.out = append(*pair.out, path)
		}
	}
	return p, nil
}

// wants reports whether the projection returns the attribute (a group's
// members are read only when they are returned).
func (p projection) wants(attr string) bool {
	for _, x := range p.exclude {
		if x.URN == "" && strings.EqualFold(x.Attr, attr) && x.Sub == "" {
			return false
		}
	}
	if len(p.include) == 0 {
		return true
	}
	for _, x := range p.include {
		if x.URN == "" && strings.EqualFold(x.Attr, attr) {
			return true
		}
	}
	return false
}

// apply returns m with only what the projection returns: id and schemas
// always.
func (p projection) apply(m map[string]any) map[string]any {
	if len(p.include) > 0 {
		out := map[string]any{"id": m["id"], "schemas": m["schemas"]}
		for _, x := range p.include {
			copyPath(out, m, x)
		}
		m = out
	}
	for _, x := range p.exclude {
		removePath(m, x)
	}
	return m
}

func container(m map[string]any, x Path) map[string]any {
	if x.URN == "" {
		return m
	}
	k, ok := keyOf(m, x.URN)
	if !ok {
		return nil
	}
	c, _ := m[k].(map[string]any)
	return c
}

func copyPath(dst, src map[string]any, x Path) {
	from := container(src, x)
	if from == nil {
		return
	}
	to := dst
	if x.URN != "" {
		if x.Attr == "" {
			dst[x.URN] = from
			return
		}
		c, _ := dst[x.URN].(map[string]any)
		if c == nil {
			c = map[string]any{}
			dst[x.URN] = c
		}
		to = c
	}
	k, ok := keyOf(from, x.Attr)
	if !ok {
		return
	}
	if x.Sub == "" {
		to[k] = from[k]
		return
	}
	switch v := from[k].(type) {
	case map[string]any:
		c, _ := to[k].(map[string]any)
		if c == nil {
			c = map[string]any{}
			to[k] = c
		}
		if sk, ok := keyOf(v, x.Sub); ok {
			c[sk] = v[sk]
		}
	case []any:
		out := make([]any, 0, len(v))
		for _, e := range v {
			if em, ok := e.(map[string]any); ok {
				if sk, ok := keyOf(em, x.Sub); ok {
					out = append(out, map[string]any{sk: em[sk]})
				}
			}
		}
		to[k] = out
	}
}

func removePath(m map[string]any, x Path) {
	from := container(m, x)
	if from == nil {
		return
	}
	if x.URN != "" && x.Attr == "" {
		if k, ok := keyOf(m, x.URN); ok {
			delete(m, k)
		}
		return
	}
	k, ok := keyOf(from, x.Attr)
	if !ok || (x.URN == "" && (strings.EqualFold(k, "id") || strings.EqualFold(k, "schemas"))) {
		return
	}
	if x.Sub == "" {
		delete(from, k)
		return
	}
	switch v := from[k].(type) {
	case map[string]any:
		if sk, ok := keyOf(v, x.Sub); ok {
			c := maps.Clone(v)
			delete(c, sk)
			from[k] = c
		}
	case []any:
		out := make([]any, 0, len(v))
		for _, e := range v {
			if em, ok := e.(map[string]any); ok {
				c := maps.Clone(em)
				if sk, ok := keyOf(c, x.Sub); ok {
					delete(c, sk)
				}
				out = append(out, c)
			}
		}
		from[k] = out
	}
}

// Error is a SCIM error (RFC 7644 §3.12): its status, scimType and detail.
type Error struct {
	Status int
	Type   string
	Detail string
}

func (e *Error) Error() string { return e.Detail }

// errorOf turns an error into a SCIM error: muster's codes map to statuses.
func errorOf(err error) *Error {
	var se *Error
	if ok := asError(err, &se); ok {
		return se
	}
	msg := schema.ErrorMessageOf(err)
	switch schema.ErrorCodeOf(err) {
	case schema.EInvalid:
		return &Error{Status: 400, Type: "invalidValue", Detail: msg}
	case schema.ENotFound:
		return &Error{Status: 404, Detail: msg}
	case schema.EConflict:
		return &Error{Status: 409, Type: "uniqueness", Detail: msg}
	case schema.EUnauthorized:
		return &Error{Status: 401, Detail: msg}
	case schema.EForbidden:
		return &Error{Status: 403, Detail: msg}
	case schema.EUnavailable:
		return &Error{Status: 503, Detail: msg}
	}
	return &Error{Status: 500, Detail: "internal error"}
}

// IsInternal reports whether err is not an answer to the client (a SCIM
// error or one of muster's user-facing codes) but a failure of the store.
func IsInternal(err error) bool {
	var se *Error
	if asError(err, &se) {
		return false
	}
	switch schema.ErrorCodeOf(err) {
	case schema.EInvalid, schema.ENotFound, schema.EConflict, schema.EForbidden, schema.EUnauthorized:
		return false
	}
	return true
}
