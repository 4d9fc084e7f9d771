package workos

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"muster/schema"
)

const redacted = "[redacted]"

// Secret is an API key or a webhook secret. It prints as "[redacted]" with
// every fmt verb, in JSON and in slog, so a config, a client or an error that
// holds one cannot leak it into a log. Reveal returns the value.
type Secret string

// Reveal returns the secret's value, for the one place that must send it.
func (s Secret) Reveal() string { return string(s) }

// String returns "[redacted]".
func (s Secret) String() string { return redacted }

// GoString returns "[redacted]", for %#v.
func (s Secret) GoString() string { return redacted }

// Format writes "[redacted]" whatever the verb.
func (s Secret) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// MarshalJSON writes "[redacted]".
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// LogValue keeps the secret out of slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// SecretFromEnv reads a secret from the environment variable name. The error
// names the variable, never a value.
func SecretFromEnv(getenv func(string) string, name string) (Secret, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return "", schema.Errorf(schema.EInvalid, "workos: environment variable %s is empty or not set", name)
	}
	return Secret(v), nil
}

// ReadSecretFile reads a secret from a file (a mounted Kubernetes or Docker
// secret, say), trimming surrounding white space. The error names the file,
// never its content.
func ReadSecretFile(path string) (Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", schema.WrapError(schema.EInvalid, err, "workos: read secret file")
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", schema.Errorf(schema.EInvalid, "workos: secret file %s is empty", path)
	}
	if strings.ContainsAny(v, "\r\n") {
		return "", schema.Errorf(schema.EInvalid, "workos: secret file %s holds more than one line", path)
	}
	return Secret(v), nil
}
