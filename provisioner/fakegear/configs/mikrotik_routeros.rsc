/ip address add address=203.0.113.4/29 interface=ether1
/ip address add address=10.89.1.1/24 interface=ether2
/ip firewall filter add action=accept chain=input comment="defconf: accept established,related,untracked" connection-state=established,related,untracked
/ip firewall filter add action=drop chain=input comment="defconf: drop all not coming from LAN" in-interface=ether1
/ip firewall nat add action=masquerade chain=srcnat comment="defconf: masquerade" out-interface=ether1
