package cli

import (
	"maps"
	"testing"
)

func TestParseInfo(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]string
	}{
		{"git=Joe <j@x>,email=j@x", map[string]string{"git": "Joe <j@x>", "email": "j@x"}},
		{"joe:email=new@x", map[string]string{"identifier": "joe", "email": "new@x"}},
		{"joe", map[string]string{"identifier": "joe"}},
	} {
		got, err := parseInfo(tc.in)
		if err != nil || !maps.Equal(got, tc.want) {
			t.Errorf("%q: %v %v", tc.in, got, err)
		}
	}
	if _, err := parseInfo("a=b,c"); err == nil {
		t.Error("a=b,c accepted")
	}
}
