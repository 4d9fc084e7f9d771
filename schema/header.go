package schema

import (
	"fmt"
	"sort"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Column is one column of a file's header and what muster makes of it.
type Column struct {
	// Index is the 0-based position of the column.
	Index int `json:"index"`
	// Name is the header as written in the file.
	Name string `json:"name"`
	// Field is the field the column is read as; "" when it is ignored.
	Field string `json:"field,omitempty"`
	// Note says how the column was matched ("alias", "column setting") or
	// why it is ignored.
	Note string `json:"note,omitempty"`
}

// statusKind says how a status column's values read.
type statusKind uint8

const (
	statusWords      statusKind = iota // Active, Terminated, Employed...
	statusTerminated                   // a flag: true means gone
	statusActive                       // a flag: true means active
	statusEmployment                   // words, or a kind of employment (Full-Time...) meaning active
)

// alias is what a normalised header name means. Secondary aliases (rank 1)
// give way when a primary alias of the same field is also in the file:
// "Legal First Name" next to "First Name", "Employment Status" next to
// "Status", "Original Hire Date" next to "Hire Date".
type alias struct {
	f      field
	rank   uint8
	status statusKind
}

// aliases is the built-in header dictionary, keyed by headerKey. It covers
// the spellings of the common HRIS and directory exports (Workday, BambooHR,
// ADP, HiBob, Personio, Rippling, Google Workspace, Entra/CSV2SCIM...), and
// the basic German, French, Spanish and Dutch headers.
var aliases = buildAliases()

func buildAliases() map[string]alias {
	m := map[string]alias{}
	add := func(f field, rank uint8, st statusKind, names ...string) {
		for _, n := range names {
			k := headerKey(n)
			if old, dup := m[k]; dup && old != (alias{f, rank, st}) {
				panic("schema: alias with two meanings: " + n)
			}
			m[k] = alias{f, rank, st}
		}
	}
	add(fEmail, 0, 0, "email", "e-mail", "email address", "work email", "work email address",
		"business email", "business email address", "company email", "corporate email",
		"office email", "primary email", "primary email address", "email work", "email primary",
		"work mail", "mail", "mail address", "email id", "primary work email", "email primary work", "user email", "employee email",
		"employee email address", "best email", "email1", "work e-mail address",
		"emailadresse", "e-mail-adresse", "geschäftliche e-mail", "courriel", "adresse e-mail",
		"adresse courriel", "adresse électronique", "correo", "correo electrónico", "e-mailadres",
		"e-post")
	add(fFirstName, 0, 0, "first name", "first", "given name", "forename", "fname",
		"vorname", "prénom", "nombre", "voornaam")
	add(fFirstName, 1, 0, "legal first name", "first name legal")
	add(fLastName, 0, 0, "last name", "last", "surname", "family name", "lname",
		"nachname", "familienname", "nom", "nom de famille", "apellido", "apellidos", "achternaam")
	add(fLastName, 1, 0, "legal last name", "last name legal")
	add(fFullName, 0, 0, "name", "full name", "employee name", "display name", "worker",
		"worker name", "person name", "legal name", "legal full name", "nom complet",
		"vollständiger name", "nombre completo")
	// A single name column in "Last, First" order, headed by the order
	// itself (ADP, Paylocity, UKG reports); "Name (Last, First)" and the
	// like are read as "Name" (dropNote), the order then told by lastFirst.
	add(fFullName, 0, 0, "last, first", "last, first mi", "last, first middle", "last, first m",
		"last name, first name", "last name, first name, middle name", "last name, first name mi",
		"lastname, firstname", "surname, first name", "surname, forename", "surname, given name",
		"family name, given name", "last first", "lastfirst", "last_first", "name last first",
		"nachname, vorname", "nom, prénom", "apellidos, nombre", "achternaam, voornaam")
	add(fGroups, 0, 0, "groups", "group", "group names", "teams", "segments", "audiences",
		"distribution lists", "mailing lists", "lists", "tags", "org unit path",
		"gruppen", "groupes", "grupos")
	add(fStatus, 0, statusWords, "status", "worker status", "employee status", "user status",
		"account status", "lifecycle status", "employment state", "position status", "worker status code",
		"statut", "estado")
	// BambooHR's "Employment Status" holds Full-Time, Contractor...
	// while employed and Terminated after.
	add(fStatus, 1, statusEmployment, "employment status")
	add(fStatus, 0, statusTerminated, "terminated", "is terminated", "termd", "termed",
		"terminated flag", "suspended", "is suspended", "deactivated", "is deactivated")
	add(fStatus, 0, statusActive, "active", "is active", "active status", "enabled", "account enabled", "active flag")
	add(fSourceID, 0, 0, "employee id", "employee number", "employee no", "employee #", "emp id",
		"emp no", "empl id", "employee code", "worker id", "person id", "person number",
		"associate id", "staff id", "staff number", "external id", "external user id", "user id",
		"id", "personnel number", "personalnummer", "mitarbeiternummer", "matricule",
		"numéro d'employé", "número de empleado", "personeelsnummer")
	add(fAction, 0, 0, "action", "operation", "change type", "record action", "op", "aktion")
	attr := func(a Attr, rank uint8, names ...string) { add(fAttr+field(a), rank, 0, names...) }
	attr(AttrJobTitle, 0, "job title", "title", "business title", "position", "position title",
		"employee title", "job title description", "designation", "job position", "role",
		"stellenbezeichnung", "poste",
		"intitulé du poste", "puesto", "cargo", "functie")
	attr(AttrDepartmentName, 0, "department", "department name", "dept", "supervisory organization",
		"home department", "home department description", "department description",
		"abteilung", "département", "departamento", "afdeling")
	attr(AttrManagerEmail, 0, "manager email", "manager’s email", "managers email",
		"manager email address", "supervisor email", "supervisor’s email", "supervisors email",
		"reports to email", "reporting to email", "line manager email", "manager work email",
		"e-mail vorgesetzter")
	attr(AttrEmploymentStartDate, 0, "hire date", "start date", "date of hire", "date of joining",
		"joining date", "join date", "first day of work", "employment start date", "started at",
		"start date yyyy/mm/dd", "start date yyyy-mm-dd", "eintrittsdatum", "date d'embauche",
		"date d'entrée", "fecha de ingreso", "fecha de contratación", "datum in dienst")
	attr(AttrEmploymentStartDate, 1, "original hire date", "seniority date", "continuous service date")
	attr(AttrDivisionName, 0, "division", "division name", "business unit", "sparte", "geschäftsbereich")
	attr(AttrCostCenterName, 0, "cost center", "cost centre", "cost center name", "cost centre name",
		"kostenstelle", "centre de coût", "centro de coste", "centro de costo", "kostenplaats")
	attr(AttrEmployeeType, 0, "employee type", "worker type", "employment type", "contract type",
		"worker category", "beschäftigungsart", "type de contrat", "tipo de contrato")
	attr(AttrPreferredLanguage, 0, "preferred language", "language", "locale", "lang", "sprache",
		"langue", "idioma", "taal")
	attr(AttrRawAddress, 0, "address", "work address", "office address", "full address")
	attr(AttrStreetAddress, 0, "street address", "street", "address line 1", "address 1",
		"straße", "strasse", "adresse", "dirección")
	attr(AttrCity, 0, "city", "town", "locality", "work city", "ort", "stadt", "ville", "ciudad", "plaats")
	attr(AttrRegion, 0, "region", "state", "province", "state province", "state/province",
		"state region", "county", "bundesland")
	attr(AttrPostalCode, 0, "postal code", "postcode", "zip code", "zip", "zip/postal code",
		"plz", "postleitzahl", "code postal", "código postal")
	attr(AttrCountry, 0, "country", "country code", "country name", "two letter country code",
		"land", "pays", "país")
	return m
}

// headerKey normalises a header name for the dictionary: a trailing
// bracketed note ("[Required]", "(optional)") is dropped, accents are
// removed, "#" reads as "number", and only lower-case letters and digits
// are kept, so case, spaces, underscores, hyphens and punctuation (curly
// apostrophes too) do not matter.
func headerKey(s string) string {
	s = strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) })
	for i := 0; i < 2; i++ {
		s = dropNote(s)
	}
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		switch {
		case r == '#':
			b.WriteString("number")
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// dropNote removes a trailing "[...]" or "(...)" when something is left.
func dropNote(s string) string {
	s = strings.TrimRightFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '*' })
	for _, pair := range [...][2]byte{{'[', ']'}, {'(', ')'}} {
		if strings.HasSuffix(s, string(pair[1])) {
			if i := strings.LastIndexByte(s, pair[0]); i > 0 {
				if rest := strings.TrimSpace(s[:i]); headerHasWord(rest) {
					return rest
				}
			}
		}
	}
	return s
}

func headerHasWord(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) >= 0
}

// mapping is the result of reading a header: what each column means and
// where each field is read from.
type mapping struct {
	columns  []Column
	fieldOf  []field // per column; fNone when ignored
	statusOf statusKind
	// statusOf2 is how the second status column (fStatus2) reads.
	statusOf2 statusKind
	// col is the column index of each field, -1 when absent.
	col      [numFields]int
	problems []Problem
	// lastFirst says the full name column's header gives the order "Last,
	// First": a name without a comma is then split before its last word.
	lastFirst bool
	// warned counts the column warnings given, warnedMore those left out.
	warned, warnedMore int
}

// mapHeader matches header names to fields: per-source settings first,
// then the alias dictionary. line is the header's line, for problems.
func mapHeader(header []string, settings map[string]string, line int) (*mapping, error) {
	m := &mapping{columns: make([]Column, len(header)), fieldOf: make([]field, len(header))}
	for f := range m.col {
		m.col[f] = -1
	}
	set, err := readSettings(settings)
	if err != nil {
		return nil, err
	}
	type cand struct {
		col   int
		rank  uint8 // 0 setting, 1 primary alias, 2 secondary alias
		st    statusKind
		field field
	}
	byField := map[field][]cand{}
	keys := make([]string, len(header))
	seen := map[string]int{} // header key -> first column with it
	for i, name := range header {
		c := &m.columns[i]
		c.Index, c.Name = i, name
		key := headerKey(name)
		keys[i] = key
		if key == "" {
			c.Note = "no name"
			if strings.TrimSpace(name) == "" {
				m.warn(line, name, CodeEmptyHeader, fmt.Sprintf("column %d has no name; it is ignored", i+1))
			} else {
				m.warn(line, name, CodeUnknownColumn, fmt.Sprintf("column %d (%q) has no letters or digits; it is ignored", i+1, name))
			}
			continue
		}
		first, dup := seen[key]
		if !dup {
			seen[key] = i
		}
		if f, ok := set.lookup(name, key); ok {
			if f == fNone {
				c.Note = "ignored by column setting"
			} else {
				byField[f] = append(byField[f], cand{col: i, rank: 0, field: f})
			}
			continue
		}
		a, ok := aliases[key]
		switch {
		case ok:
			byField[a.f] = append(byField[a.f], cand{col: i, rank: 1 + a.rank, st: a.status, field: a.f})
		case dup:
			c.Note = fmt.Sprintf("same name as column %d", first+1)
			m.warn(line, name, CodeDuplicateHeader, fmt.Sprintf("column %d has the same name as column %d (%q); both are ignored", i+1, first+1, header[first]))
		default:
			c.Note = "unknown column"
			m.warn(line, name, CodeUnknownColumn, fmt.Sprintf("column %q is not one muster knows; it is ignored", name))
		}
	}
	fields := make([]field, 0, len(byField))
	for f := range byField {
		fields = append(fields, f)
	}
	sort.Slice(fields, func(i, j int) bool { return fields[i] < fields[j] })
	for _, f := range fields {
		cs := byField[f]
		sort.SliceStable(cs, func(i, j int) bool { return cs[i].rank < cs[j].rank })
		win := cs[0]
		m.col[f] = win.col
		m.fieldOf[win.col] = f
		if f == fStatus {
			m.statusOf = win.st
		}
		wc := &m.columns[win.col]
		wc.Field = f.String()
		wc.Note = "alias"
		if win.rank == 0 {
			wc.Note = "column setting"
		}
		for _, lose := range cs[1:] {
			lc := &m.columns[lose.col]
			if f == fStatus && m.col[fStatus2] < 0 && lose.st != win.st && lose.rank > 0 {
				// Another kind of status (a flag beside words, say): read
				// it too, so that a person either column marks as gone is.
				m.col[fStatus2], m.fieldOf[lose.col], m.statusOf2 = lose.col, fStatus2, lose.st
				lc.Field, lc.Note = FieldStatus, fmt.Sprintf("also read as status: a row is inactive when %q or %q says so", wc.Name, lc.Name)
				continue
			}
			if lose.rank > win.rank {
				lc.Note = fmt.Sprintf("%s is read from %q", f, wc.Name)
				continue
			}
			m.problems = append(m.problems, sameField(line, f, *wc, *lc, keys[wc.Index] == keys[lc.Index]))
			lc.Note = fmt.Sprintf("also %s; %q is read", f, wc.Name)
		}
	}
	if m.col[fFullName] >= 0 && (m.col[fFirstName] >= 0 || m.col[fLastName] >= 0) {
		c := &m.columns[m.col[fFullName]]
		c.Note = "full name is split only when there are no first and last name columns"
		c.Field = ""
		m.fieldOf[c.Index] = fNone
		m.col[fFullName] = -1
	}
	if m.warnedMore > 0 {
		m.problems = append(m.problems, Problem{Line: line, Code: CodeUnknownColumn, Severity: SeverityWarning,
			Message: fmt.Sprintf("%d more columns are ignored for the same reasons (not listed one by one)", m.warnedMore)})
	}
	if c := m.col[fFullName]; c >= 0 {
		m.lastFirst = saysLastFirst(m.columns[c].Name)
		if m.lastFirst {
			m.columns[c].Note = "alias; read as \"Last, First\""
		}
	}
	if m.col[fEmail] < 0 {
		m.problems = append(m.problems, Problem{Line: line, Code: CodeNoEmailColumn, Severity: SeverityError,
			Message: fmt.Sprintf("no column holds email addresses; the header has %s. "+
				"Name the column \"Email\" or map it in the source's column settings", listHeaders(header))})
	}
	sort.SliceStable(m.problems, func(i, j int) bool { return m.problems[i].Severity < m.problems[j].Severity })
	return m, nil
}

// saysLastFirst reports whether a name column's header gives the order
// last name first: "Last, First", "Employee Name (Last, First MI)",
// "Surname, Forename"...
func saysLastFirst(header string) bool {
	h := strings.ToLower(header)
	last, first := -1, -1
	for _, w := range []string{"last", "surname", "family", "nachname", "apellido", "achternaam", "nom,"} {
		if i := strings.Index(h, w); i >= 0 && (last < 0 || i < last) {
			last = i
		}
	}
	for _, w := range []string{"first", "forename", "given", "vorname", "prénom", "nombre", "voornaam"} {
		if i := strings.Index(h, w); i >= 0 && (first < 0 || i < first) {
			first = i
		}
	}
	return last >= 0 && first > last
}

// sameField is the problem of two columns of the same standing that mean
// the same field. For the email it refuses the file: reading the wrong
// address could remove or merge the wrong people.
func sameField(line int, f field, win, lose Column, sameName bool) Problem {
	p := Problem{Line: line, Column: lose.Name, Code: CodeDuplicateField, Severity: SeverityWarning,
		Message: fmt.Sprintf("columns %q and %q both look like %s; only %q is read", win.Name, lose.Name, f, win.Name)}
	if sameName {
		p.Code = CodeDuplicateHeader
		p.Message = fmt.Sprintf("columns %d and %d are both named %q; only column %d is read", win.Index+1, lose.Index+1, lose.Name, win.Index+1)
	}
	if f == fEmail {
		p.Severity = SeverityError
		p.Message = fmt.Sprintf("columns %d (%q) and %d (%q) both look like the email address and muster cannot tell which one to use; "+
			"rename one, or set it to \"ignore\" in the source's column settings", win.Index+1, win.Name, lose.Index+1, lose.Name)
	}
	return p
}

// maxColumnWarnings bounds the warnings about single columns (unknown,
// unnamed, named twice) a header gets: past it they are counted in one
// last warning, so a header of 100,000 columns does not make 100,000
// problems.
const maxColumnWarnings = 100

func (m *mapping) warn(line int, col string, code ProblemCode, msg string) {
	if m.warned >= maxColumnWarnings {
		m.warnedMore++
		return
	}
	m.warned++
	m.problems = append(m.problems, Problem{Line: line, Column: col, Code: code, Severity: SeverityWarning, Message: msg})
}

func listHeaders(header []string) string {
	const max = 30
	var qs []string
	for i, h := range header {
		if i == max {
			qs = append(qs, fmt.Sprintf("and %d more", len(header)-max))
			break
		}
		qs = append(qs, fmt.Sprintf("%q", h))
	}
	if len(qs) == 0 {
		return "no columns"
	}
	return "these columns: " + strings.Join(qs, ", ")
}

// settings are per-source column settings, matched by the header as written
// and then by its normalised key.
type settings struct {
	exact map[string]field
	byKey map[string]field
}

func readSettings(in map[string]string) (settings, error) {
	s := settings{exact: map[string]field{}, byKey: map[string]field{}}
	names := make([]string, 0, len(in))
	for col := range in {
		names = append(names, col)
	}
	sort.Strings(names)
	var probs []Problem
	for _, col := range names {
		f, ok := parseField(in[col])
		if !ok {
			probs = append(probs, Problem{Column: col, Code: CodeBadColumnSetting, Severity: SeverityError,
				Message: fmt.Sprintf("the column setting for %q names %q, which is not a field; use one of: %s",
					col, in[col], strings.Join(FieldNames(), ", "))})
			continue
		}
		s.exact[strings.TrimSpace(col)] = f
		if k := headerKey(col); k != "" {
			s.byKey[k] = f
		}
	}
	if len(probs) > 0 {
		return s, &FileError{Problems: probs}
	}
	return s, nil
}

func (s settings) lookup(name, key string) (field, bool) {
	if f, ok := s.exact[strings.TrimSpace(name)]; ok {
		return f, true
	}
	f, ok := s.byKey[key]
	return f, ok
}
