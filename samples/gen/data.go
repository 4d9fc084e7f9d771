package gen

type name struct{ display, ascii string }

var firstNames = []name{
	{"Olivia", "olivia"}, {"Liam", "liam"}, {"Emma", "emma"}, {"Noah", "noah"}, {"Amelia", "amelia"},
	{"Oliver", "oliver"}, {"Ava", "ava"}, {"Elijah", "elijah"}, {"Sophia", "sophia"}, {"Mateo", "mateo"},
	{"Isabella", "isabella"}, {"Lucas", "lucas"}, {"Mia", "mia"}, {"Levi", "levi"}, {"Charlotte", "charlotte"},
	{"Amélie", "amelie"}, {"Zoë", "zoe"}, {"José", "jose"}, {"Björn", "bjorn"}, {"Chloé", "chloe"},
	{"Priya", "priya"}, {"Arjun", "arjun"}, {"Mei", "mei"}, {"Hiroshi", "hiroshi"}, {"Fatima", "fatima"},
	{"Omar", "omar"}, {"Ngozi", "ngozi"}, {"Kwame", "kwame"}, {"Sofía", "sofia"}, {"Łukasz", "lukasz"},
	{"Anna", "anna"}, {"Jan", "jan"}, {"Marie", "marie"}, {"Pierre", "pierre"}, {"Giulia", "giulia"},
	{"Luca", "luca"}, {"Ingrid", "ingrid"}, {"Sven", "sven"}, {"Aisha", "aisha"}, {"Yusuf", "yusuf"},
}

var lastNames = []name{
	{"Smith", "smith"}, {"Johnson", "johnson"}, {"Williams", "williams"}, {"Brown", "brown"},
	{"Jones", "jones"}, {"Garcia", "garcia"}, {"Miller", "miller"}, {"Davis", "davis"},
	{"Rodriguez", "rodriguez"}, {"Martinez", "martinez"}, {"Müller", "mueller"}, {"Schmidt", "schmidt"},
	{"Dubois", "dubois"}, {"Lefèvre", "lefevre"}, {"Rossi", "rossi"}, {"Bianchi", "bianchi"},
	{"Nowak", "nowak"}, {"Kowalski", "kowalski"}, {"Jansen", "jansen"}, {"de Vries", "devries"},
	{"Andersson", "andersson"}, {"Nielsen", "nielsen"}, {"Patel", "patel"}, {"Singh", "singh"},
	{"Tanaka", "tanaka"}, {"Suzuki", "suzuki"}, {"Wang", "wang"}, {"Li", "li"}, {"Okafor", "okafor"},
	{"Mensah", "mensah"}, {"O'Brien", "obrien"}, {"Núñez", "nunez"}, {"Haddad", "haddad"},
	{"Cohen", "cohen"}, {"Kim", "kim"}, {"Nguyen", "nguyen"}, {"Silva", "silva"}, {"Costa", "costa"},
}

var departments = []string{
	"Engineering", "Sales", "Marketing", "Finance", "People", "Customer Success", "Legal",
	"Operations", "Product", "Design", "Security", "Data", "Facilities", "Procurement",
}

var divisions = []string{"Corporate", "Commercial", "Research & Development", "Shared Services", "Field Operations"}

var titles = []string{
	"Software Engineer", "Senior Software Engineer", "Account Executive", "Marketing Manager",
	"Financial Analyst", "HR Business Partner", "Customer Success Manager", "Paralegal",
	"Operations Coordinator", "Product Manager", "Product Designer", "Security Analyst",
	"Data Scientist", "Facilities Manager", "Buyer", "Team Lead", "Director", "Intern",
}

var workerTypes = []string{"Full Time", "Full Time", "Full Time", "Part Time", "Contractor", "Intern"}

type location struct{ city, country, lang string }

var locations = []location{
	{"London", "GB", "en-GB"}, {"Manchester", "GB", "en-GB"}, {"New York", "US", "en-US"},
	{"Austin", "US", "en-US"}, {"Paris", "FR", "fr-FR"}, {"Lyon", "FR", "fr-FR"},
	{"Berlin", "DE", "de-DE"}, {"München", "DE", "de-DE"}, {"Madrid", "ES", "es-ES"},
	{"Amsterdam", "NL", "nl-NL"}, {"Warszawa", "PL", "pl-PL"}, {"Bengaluru", "IN", "en-IN"},
	{"Tokyo", "JP", "ja-JP"}, {"Lagos", "NG", "en-NG"}, {"São Paulo", "BR", "pt-BR"},
}
