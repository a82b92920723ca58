-- settle, last section: the reply, the number of messages settled (released by me).
return settled
