package processsync

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Token is LearningBuilder's secure token: the hex SHA-256 of UniqueId,
// TimeStamp and the shared key concatenated in that order (CERTAIN; not
// an HMAC).
func Token(uniqueID, timestamp, key string) string {
	sum := sha256.Sum256([]byte(uniqueID + timestamp + key))
	return hex.EncodeToString(sum[:])
}

// TimeStamp is t as the token wants it: Unix seconds.
func TimeStamp(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// checkToken reports whether token is right for uniqueID and timestamp
// under key, and timestamp within window of now. Comparison is in constant
// time and ignores the case of the hex.
func checkToken(uniqueID, timestamp, token, key string, now time.Time, window time.Duration) bool {
	ts, err := strconv.ParseInt(strings.TrimSpace(timestamp), 10, 64)
	if err != nil || key == "" {
		return false
	}
	skew := now.Unix() - ts
	if skew < 0 {
		skew = -skew
	}
	want := Token(uniqueID, strings.TrimSpace(timestamp), key)
	ok := subtle.ConstantTimeCompare([]byte(strings.ToLower(strings.TrimSpace(token))), []byte(want)) == 1
	return ok && time.Duration(skew)*time.Second <= window
}
