module github.com/redtap/redtap

go 1.26
