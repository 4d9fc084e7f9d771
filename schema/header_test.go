package schema

import (
	"strings"
	"testing"
)

func TestHeaderAliases(t *testing.T) {
	tests := []struct {
		header, field string
	}{
		{"Email", FieldEmail},
		{"Email Address", FieldEmail},
		{"EMAIL_ADDRESS", FieldEmail},
		{"Work Email", FieldEmail},
		{"E-mail", FieldEmail},
		{"workEmail", FieldEmail},
		{"work_email", FieldEmail},
		{"Email_-_Work", FieldEmail},
		{"Primary Work Email", FieldEmail},
		{"Email - Primary Work", FieldEmail},
		{"Started At", AttrEmploymentStartDate.String()},
		{"Email Address [Required]", FieldEmail},
		{"email (required)", FieldEmail},
		{"  \ufeffEmail  ", FieldEmail},
		{"E-Mail-Adresse", FieldEmail},
		{"Adresse électronique", FieldEmail},
		{"First Name", FieldFirstName},
		{"firstName", FieldFirstName},
		{"Legal First Name", FieldFirstName},
		{"Vorname", FieldFirstName},
		{"Prénom", FieldFirstName},
		{"Prenom", FieldFirstName},
		{"Surname", FieldLastName},
		{"Last_Name", FieldLastName},
		{"Full Name", FieldFullName},
		{"Name", FieldFullName},
		{"Employee_Name", FieldFullName},
		{"Groups", FieldGroups},
		{"Org Unit Path [Required]", FieldGroups},
		{"Status", FieldStatus},
		{"WorkerStatus", FieldStatus},
		{"Terminated", FieldStatus},
		{"IsTerminated", FieldStatus},
		{"Termd", FieldStatus},
		{"Active_Status", FieldStatus},
		{"Employee_ID", FieldSourceID},
		{"Employee #", FieldSourceID},
		{"employeeNumber", FieldSourceID},
		{"Associate ID", FieldSourceID},
		{"EmpID", FieldSourceID},
		{"Action", FieldAction},
		{"Job Title", "job_title"},
		{"Business Title", "job_title"},
		{"Department", "department_name"},
		{"Supervisory_Organization", "department_name"},
		{"Manager’s email", "manager_email"},
		{"Manager's Email", "manager_email"},
		{"Manager Email", "manager_email"},
		{"supervisorEmail", "manager_email"},
		{"Reports To Email", "manager_email"},
		{"Hire Date", "employment_start_date"},
		{"HireDate", "employment_start_date"},
		{"Start Date", "employment_start_date"},
		{"Date of Joining", "employment_start_date"},
		{"Eintrittsdatum", "employment_start_date"},
		{"Division", "division_name"},
		{"Cost Center", "cost_center_name"},
		{"CostCentre", "cost_center_name"},
		{"Worker Type", "employee_type"},
		{"Preferred Language", "preferred_language"},
		{"Locale", "preferred_language"},
		{"Street Address", "street_address"},
		{"City", "city"},
		{"State", "region"},
		{"Postal Code", "postal_code"},
		{"ZipCode", "postal_code"},
		{"Country Code", "country"},
	}
	for _, tt := range tests {
		m, err := mapHeader([]string{tt.header}, nil, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.columns[0].Field; got != tt.field {
			t.Errorf("%q maps to %q, want %q", tt.header, got, tt.field)
		}
	}
	for _, unknown := range []string{"Personal Email", "Recovery Email", "Home Email", "Pay Grade", "Location", "Supervisor"} {
		m, _ := mapHeader([]string{"Email", unknown}, nil, 1)
		if m.columns[1].Field != "" || m.problems[0].Code != CodeUnknownColumn {
			t.Errorf("%q: field %q, problems %v", unknown, m.columns[1].Field, m.problems)
		}
	}
}

func TestHeaderKey(t *testing.T) {
	tests := map[string]string{
		"Email Address":               "emailaddress",
		"E-mail":                      "email",
		"Manager’s email":             "managersemail",
		"Employee #":                  "employeenumber",
		"Email Address [Required]":    "emailaddress",
		"Status [READ ONLY]":          "status",
		"Start date (YYYY-MM-DD)":     "startdate",
		"Prénom":                      "prenom",
		"[Required]":                  "required",
		"  Work_Email*  ":             "workemail",
		"Recovery Phone [MUST BE IN]": "recoveryphone",
	}
	for in, want := range tests {
		if got := headerKey(in); got != want {
			t.Errorf("headerKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// mapped returns column name -> field for the columns read.
func mapped(m *mapping) map[string]string {
	out := map[string]string{}
	for _, c := range m.columns {
		if c.Field != "" {
			out[c.Name] = c.Field
		}
	}
	return out
}

func TestHeaderMapping(t *testing.T) {
	t.Run("settings win over the dictionary", func(t *testing.T) {
		m, err := mapHeader([]string{"Email", "Work Email", "Personal Email", "Dept Code"},
			map[string]string{"Email": "ignore", "Personal Email": "", "dept_code": "department_name"}, 1)
		if err != nil {
			t.Fatal(err)
		}
		got := mapped(m)
		if len(got) != 2 || got["Work Email"] != FieldEmail || got["Dept Code"] != "department_name" {
			t.Fatalf("mapping %v, problems %v", got, m.problems)
		}
		if m.columns[0].Note != "ignored by column setting" || m.columns[3].Note != "column setting" {
			t.Fatalf("notes %q, %q", m.columns[0].Note, m.columns[3].Note)
		}
	})
	t.Run("a setting takes a field from the dictionary's column", func(t *testing.T) {
		m, _ := mapHeader([]string{"First Name", "Preferred Name", "Email"}, map[string]string{"Preferred Name": "first_name"}, 1)
		if got := mapped(m); got["Preferred Name"] != FieldFirstName || got["First Name"] != "" {
			t.Fatalf("mapping %v", got)
		}
	})
	t.Run("a bad setting names the fields", func(t *testing.T) {
		_, err := mapHeader([]string{"Email"}, map[string]string{"Email": "e-mail"}, 1)
		if codes := problemCodes(err); len(codes) != 1 || codes[0] != CodeBadColumnSetting ||
			!strings.Contains(err.Error(), "manager_email") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("primary aliases win over secondary ones", func(t *testing.T) {
		m, _ := mapHeader([]string{"Legal First Name", "First Name", "Email", "Employment Status", "Status"}, nil, 1)
		got := mapped(m)
		if got["First Name"] != FieldFirstName || m.col[fStatus] != 4 || len(got) != 4 || len(m.problems) != 0 {
			t.Fatalf("mapping %v, problems %v", got, m.problems)
		}
		// Employment Status is another kind of status: read as well.
		if m.col[fStatus2] != 3 || m.statusOf2 != statusEmployment || !strings.Contains(m.columns[3].Note, "also read as status") {
			t.Fatalf("second status column %d (%v), note %q", m.col[fStatus2], m.statusOf2, m.columns[3].Note)
		}
	})
	t.Run("two status columns of one kind: only the first is read", func(t *testing.T) {
		m, _ := mapHeader([]string{"Email", "Status", "Worker Status"}, nil, 1)
		if m.col[fStatus] != 1 || m.col[fStatus2] != -1 || len(m.problems) != 1 || m.problems[0].Code != CodeDuplicateField {
			t.Fatalf("status %d, second %d, problems %v", m.col[fStatus], m.col[fStatus2], m.problems)
		}
	})
	t.Run("full name only without first and last", func(t *testing.T) {
		m, _ := mapHeader([]string{"Name", "Email"}, nil, 1)
		if m.col[fFullName] != 0 {
			t.Fatal("full name not read")
		}
		m, _ = mapHeader([]string{"Name", "Email", "Last Name"}, nil, 1)
		if m.col[fFullName] >= 0 || m.columns[0].Field != "" {
			t.Fatal("full name read although there is a last name column")
		}
	})
	t.Run("two email columns refuse the file", func(t *testing.T) {
		m, _ := mapHeader([]string{"Email", "E-mail Address"}, nil, 1)
		if len(m.problems) != 1 || m.problems[0].Code != CodeDuplicateField || m.problems[0].Severity != SeverityError {
			t.Fatalf("problems %v", m.problems)
		}
		m, _ = mapHeader([]string{"Email", "Name", "email"}, nil, 1)
		if len(m.problems) != 1 || m.problems[0].Code != CodeDuplicateHeader || m.problems[0].Severity != SeverityError {
			t.Fatalf("problems %v", m.problems)
		}
	})
	t.Run("two columns for another field warn and read the first", func(t *testing.T) {
		m, _ := mapHeader([]string{"Email", "Department", "Dept"}, nil, 1)
		if len(m.problems) != 1 || m.problems[0].Code != CodeDuplicateField || m.problems[0].Severity != SeverityWarning ||
			m.col[fAttr+field(AttrDepartmentName)] != 1 {
			t.Fatalf("problems %v", m.problems)
		}
	})
	t.Run("duplicate and empty names of ignored columns warn", func(t *testing.T) {
		m, _ := mapHeader([]string{"Email", "Notes", "", "notes", "  "}, nil, 1)
		var codes []ProblemCode
		for _, p := range m.problems {
			codes = append(codes, p.Code)
			if p.Severity != SeverityWarning {
				t.Errorf("%v is not a warning", p)
			}
		}
		want := []ProblemCode{CodeUnknownColumn, CodeEmptyHeader, CodeDuplicateHeader, CodeEmptyHeader}
		if strings.Join(codesText(codes), ",") != strings.Join(codesText(want), ",") {
			t.Fatalf("codes %v, want %v", codes, want)
		}
	})
	t.Run("no email column lists the headers", func(t *testing.T) {
		m, _ := mapHeader([]string{"Employee ID", "First Name", "Personal Phone"}, nil, 1)
		p := m.problems[0]
		if p.Code != CodeNoEmailColumn || p.Severity != SeverityError ||
			!strings.Contains(p.Message, `"Employee ID", "First Name", "Personal Phone"`) {
			t.Fatalf("problem %v", p)
		}
	})
	t.Run("status flags", func(t *testing.T) {
		for header, kind := range map[string]statusKind{"Status": statusWords, "Terminated": statusTerminated, "Is Active": statusActive} {
			m, _ := mapHeader([]string{"Email", header}, nil, 1)
			if m.statusOf != kind {
				t.Errorf("%q: kind %d, want %d", header, m.statusOf, kind)
			}
		}
	})
}

func codesText(cs []ProblemCode) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}

func TestFieldNames(t *testing.T) {
	names := FieldNames()
	for _, want := range []string{FieldEmail, FieldFirstName, FieldLastName, FieldFullName, FieldGroups, FieldStatus, FieldSourceID, FieldAction, "job_title", "country"} {
		if !IsField(want) {
			t.Errorf("IsField(%q) = false", want)
		}
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("FieldNames lacks %q", want)
		}
	}
	if IsField("salary") {
		t.Error("IsField(salary) = true")
	}
}
